"""Worker events of streaming tasks (spec §4.3), in the Events table.

Per task (partition `task_id`):

- `B#<first seq, 12 digits>`: one appended batch: `first_seq`, `count`, `events` (JSON text of
  `[{"id", "event", "data"}, ...]`), `token` (which append wrote it), `ttl`. Its key is the
  sequence guard: two appends that read the same last batch both try the same key, and the
  condition `attribute_not_exists` lets exactly one of them have it.
- `I#<event id>`: the id's dedup marker (`seq`, `ttl`), written in the same transaction as its
  batch, so a batch and its markers appear together or not at all.

An append reads the last batch (one Query, newest first, one item) and writes one transaction,
whatever the number of events already stored.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from ..models import WorkerEvent
from .base import StoreBase
from .codec import (
    TRANSIENT_CANCELLATIONS,
    cancellation_codes,
    expression_values,
    from_item,
    is_transaction_cancelled,
    to_item,
    to_json,
)

MAX_TRANSACTION_ITEMS = 100  # DynamoDB's TransactWriteItems limit
SEQ_DIGITS = 12
LAST_BATCH_KEY = "B#" + "9" * SEQ_DIGITS
# Rounds of an append that lost its sequence number to a concurrent append, or was cancelled by
# contention; each round re-reads the last batch.
APPEND_ATTEMPTS = 20


FAILED = "ConditionalCheckFailed"


def marker_of(put: dict[str, Any]) -> str:
    return put["Put"]["Item"]["sk"]["S"]


def batch_sort_key(first_seq: int) -> str:
    return f"B#{first_seq:0{SEQ_DIGITS}d}"


def marker_sort_key(event_id: str) -> str:
    return f"I#{event_id}"


def first_occurrences(events: Sequence[WorkerEvent]) -> list[WorkerEvent]:
    """The events in order, an id repeated within the batch kept only the first time."""
    seen: set[str] = set()
    kept = []
    for event in events:
        if event.id is not None:
            if event.id in seen:
                continue
            seen.add(event.id)
        kept.append(event)
    return kept


def chunks_within_transaction_limit(events: Sequence[WorkerEvent]) -> list[list[WorkerEvent]]:
    """Consecutive chunks whose batch item plus id markers fit one transaction. Only a batch of
    100 events that all carry ids needs two (see docs/design.md "Online tasks")."""
    chunks: list[list[WorkerEvent]] = [[]]
    items = 1
    for event in events:
        needed = 1 if event.id is not None else 0
        if items + needed > MAX_TRANSACTION_ITEMS:
            chunks.append([])
            items = 1
        chunks[-1].append(event)
        items += needed
    return [c for c in chunks if c]


class EventRecords(StoreBase):
    def append_events(self, task_id: str, events: Sequence[WorkerEvent], ttl: int) -> int:
        """Appends, in order, the events whose id is not stored for the task yet (events without
        an id always); returns how many were appended. Safe beside a concurrent append for the
        same task and against a retried request whose first answer was lost."""
        chunks = chunks_within_transaction_limit(first_occurrences(events))
        return sum(self._append_chunk(task_id, chunk, ttl) for chunk in chunks)

    def _append_chunk(self, task_id: str, events: list[WorkerEvent], ttl: int) -> int:
        token = uuid.uuid4().hex  # tells our own batch from another append's after a lost answer
        for attempt in range(APPEND_ATTEMPTS):
            if not events:
                return 0
            first_seq = self._next_seq(task_id)
            batch = self._batch_put(task_id, first_seq, events, token, ttl)
            markers = [self._marker_put(task_id, e.id, first_seq + i, ttl) for i, e in enumerate(events) if e.id]
            try:
                self._db.transact_write_items(TransactItems=[batch, *markers])
                return len(events)
            except ClientError as e:
                if not is_transaction_cancelled(e):
                    raise
                codes = [*cancellation_codes(e), ""][: 1 + len(markers)]
                if codes[0] == FAILED:
                    reason = e.response.get("CancellationReasons", [{}])[0]
                    if self._is_ours(task_id, first_seq, token, reason):
                        return len(events)  # a retry of our committed transaction, whose answer was lost
                stored = {marker_of(m) for m, code in zip(markers, codes[1:], strict=False) if code == FAILED}
                if stored:
                    events = [e for e in events if e.id is None or marker_sort_key(e.id) not in stored]
                    continue  # drop what is already stored and try again at once
                if codes[0] != FAILED and not set(codes) & TRANSIENT_CANCELLATIONS:
                    raise
            # Another append took this sequence number (or contention cancelled ours): re-read.
            time.sleep(min(0.005 * 2**attempt, 0.1))
        raise RuntimeError(f"events of {task_id}: could not append after {APPEND_ATTEMPTS} attempts")

    def _is_ours(self, task_id: str, first_seq: int, token: str, reason: dict[str, Any]) -> bool:
        item = reason.get("Item")
        if item is None:  # backends that return no image (dynalite): read it
            key = to_item({"task_id": task_id, "sk": batch_sort_key(first_seq)})
            item = self._db.get_item(TableName=self._tables.events, Key=key, ConsistentRead=True).get("Item")
        return item is not None and item.get("token", {}).get("S") == token

    def _next_seq(self, task_id: str) -> int:
        page = self._db.query(
            TableName=self._tables.events,
            KeyConditionExpression="task_id = :task_id AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues=expression_values(task_id=task_id, first=batch_sort_key(0), last=LAST_BATCH_KEY),
            ExpressionAttributeNames={"#count": "count"},
            ProjectionExpression="first_seq, #count",
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = page.get("Items", [])
        if not items:
            return 1
        last = from_item(items[0])
        return int(last["first_seq"]) + int(last["count"])

    def _batch_put(
        self, task_id: str, first_seq: int, events: list[WorkerEvent], token: str, ttl: int
    ) -> dict[str, Any]:
        wire = [{"id": e.id, "event": e.event, "data": e.data} for e in events]
        return {
            "Put": {
                "TableName": self._tables.events,
                "Item": to_item(
                    {
                        "task_id": task_id,
                        "sk": batch_sort_key(first_seq),
                        "first_seq": first_seq,
                        "count": len(events),
                        "events": to_json(wire),
                        "token": token,
                        "ttl": ttl,
                    }
                ),
                "ConditionExpression": "attribute_not_exists(sk)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _marker_put(self, task_id: str, event_id: str, seq: int, ttl: int) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._tables.events,
                "Item": to_item({"task_id": task_id, "sk": marker_sort_key(event_id), "seq": seq, "ttl": ttl}),
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        }

    def events_after(self, task_id: str, after_seq: int, *, from_batch_start: bool = True) -> list[WorkerEvent]:
        """The task's events with a sequence number above `after_seq`, in order (strongly
        consistent). `from_batch_start`: `after_seq` ends a batch (a stream's own cursor), so one
        Query suffices; otherwise (a client's Last-Event-ID) the batch holding `after_seq + 1`
        may have started earlier, and one more Query finds it."""
        start = batch_sort_key(after_seq + 1)
        events: list[WorkerEvent] = []
        if not from_batch_start and after_seq > 0:
            page = self._db.query(
                TableName=self._tables.events,
                KeyConditionExpression="task_id = :task_id AND sk BETWEEN :first AND :start",
                ExpressionAttributeValues=expression_values(task_id=task_id, first=batch_sort_key(0), start=start),
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            )
            events += [e for item in page.get("Items", []) for e in _batch_events(item) if e.seq > after_seq]
            start = batch_sort_key(after_seq + 2)  # the batch starting at after_seq + 1 is read
        request: dict[str, Any] = {
            "TableName": self._tables.events,
            "KeyConditionExpression": "task_id = :task_id AND sk BETWEEN :start AND :last",
            "ExpressionAttributeValues": expression_values(task_id=task_id, start=start, last=LAST_BATCH_KEY),
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**request)
            events += [e for item in page.get("Items", []) for e in _batch_events(item)]
            if "LastEvaluatedKey" not in page:
                return events
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _batch_events(item: dict[str, Any]) -> list[WorkerEvent]:
    values = from_item(item)
    first = int(values["first_seq"])
    return [
        WorkerEvent(event=e["event"], data=e["data"], id=e["id"], seq=first + i)
        for i, e in enumerate(json.loads(values["events"]))
    ]
