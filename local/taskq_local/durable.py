"""The embedded store made durable (spec §5): what the local server acknowledged survives
`kill -9` and a restart.

Every DynamoDB request that changed something is journaled (operation, URL, body as sent) and
fsync'd before moto's answer leaves the store lock (embedded.make_moto_atomic), so the journal's
order is the order the writes took effect. DynamoDB operations are deterministic given the
state and the request (every time the code uses travels in the request as `:now`), so replaying
the journal in order through moto rebuilds the state.

The Tasks stream is state too: the dispatcher (callbacks, counters) must neither see twice what
it handled before the crash nor miss what it had not. Replaying the writes regenerates their
stream records, with the same sequence numbers and eventIDs (moto_state makes eventIDs follow the
sequence number; the counters' replay markers are eventIDs); the journal also records how far
the dispatcher had consumed the stream, and replay trims the stream there. What is left is
exactly what the dispatcher had not finished.

A snapshot (every item as a PutItem, then where each stream's numbering stands) replaces the
journals when the stream has nothing unconsumed: at start-up and whenever the journal passes
TASKQ_COMPACT_BYTES. Its PutItems regenerate stream records of writes handled long ago; they
are dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import moto_state
from .embedded import STORE_LOCK
from .journal import SNAPSHOT, Journal, journal_numbers, journal_path, lock_folder, read_entries, write_snapshot

logger = logging.getLogger("taskq_local")

# The operations that change items; table-level ones are not journaled: the tables are created
# from template.yaml at every start, before the replay.
MUTATING_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
# About 9,000 journal lines: a replay of some 20 s on a loaded 2-core machine (docs/performance.md).
DEFAULT_COMPACT_BYTES = 8 * 1024 * 1024


class DurableStore:
    """Owns one data folder for the life of the process. Its methods run under STORE_LOCK."""

    def __init__(self, folder: Path, compact_after_bytes: int = DEFAULT_COMPACT_BYTES) -> None:
        self.folder = folder
        self._folder_lock = lock_folder(folder)
        self._compact_after_bytes = compact_after_bytes
        self._journal: Journal | None = None
        self.replayed = 0

    def open(self) -> None:
        """Replays the snapshot and the journals after it into the embedded store (which has
        its tables and nothing else), then starts a new journal."""
        with STORE_LOCK, moto_state.transactions_without_rollback_copies():
            first = 1
            if (self.folder / SNAPSHOT).exists():
                entries = read_entries(self.folder / SNAPSHOT)
                first = next(entries)["journal"]
                self._replay(entries)
            numbers = [n for n in journal_numbers(self.folder) if n >= first]
            for number in numbers:
                self._replay(read_entries(journal_path(self.folder, number)))
            self._journal = Journal(self.folder, max(numbers, default=first - 1) + 1)
            self.compact(when_due=False)

    def close(self) -> None:
        """Stops journaling and lets the folder go (a server keeps it for its lifetime)."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self._folder_lock.close()

    def record_request(self, operation: str, request: Any) -> None:
        if operation in MUTATING_OPERATIONS and self._journal is not None:
            body = request.body.decode() if isinstance(request.body, bytes) else request.body
            self._journal.append({"op": operation, "url": request.url, "body": body})

    def record_consumed(self, table_name: str, through_sequence: str) -> None:
        if self._journal is not None:
            self._journal.append({"consumed": table_name, "through": through_sequence})
            self.compact(when_due=True)

    def compact(self, when_due: bool) -> bool:
        """Writes a snapshot and starts a new journal, if the journal has grown past its limit
        (or `when_due` is False) and no stream holds a record the dispatcher has not consumed:
        a snapshot carries items, not pending stream records."""
        journal = self._journal
        assert journal is not None
        if when_due and journal.size() < self._compact_after_bytes:
            return False
        if moto_state.stream_backlog():
            return False
        write_snapshot(self.folder, journal.number + 1, _snapshot_entries())
        journal.close()
        self._journal = Journal(self.folder, journal.number + 1)
        return True

    def _replay(self, entries: Iterator[dict[str, Any]]) -> None:
        for entry in entries:
            if "op" in entry:
                status, answer = moto_state.serve_recorded(entry["op"], entry["url"], entry["body"])
                if status != 200:  # it succeeded when it was journaled: the state has diverged
                    logger.error("replaying %s answered %s: %s", entry["op"], status, answer[:300])
            elif "consumed" in entry:
                moto_state.trim_moto_stream(entry["consumed"], entry["through"])
            elif "streams" in entry:
                moto_state.restart_streams(entry["streams"])
            self.replayed += 1


def _snapshot_entries() -> Iterator[dict[str, Any]]:
    url = moto_state.dynamodb_url()
    for name, items in moto_state.all_items().items():
        for item in items:
            yield {"op": "PutItem", "url": url, "body": json.dumps({"TableName": name, "Item": item})}
    yield {"streams": moto_state.stream_positions()}
