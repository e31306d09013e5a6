"""The clear markers one function instance has read, reused by its later takes.

A clear answers only CLEAR_ANSWER_DELAY_MS after storing its marker, and a take trusts a marker
read for GATES_TRUSTED_MS (clearing.py). That bound is measured from the moment before the read
was sent, not from the take that sent it, so the same argument covers markers read by an earlier
take of this instance: an uncontended take then needs no read of the markers at all.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .clearing import GATES_TRUSTED_MS
from .models import QueueLevel


@dataclass(frozen=True)
class _Entry:
    cleared_before: int | None  # None: the read found no marker
    read_at: int  # clock time before the read was sent


class ClearMarkerCache:
    """Per queue-level: its marker (or that it had none) and when the read that saw it began.
    Pure bookkeeping: the reads themselves are the store's (store/clears.py)."""

    def __init__(self) -> None:
        self._entries: dict[QueueLevel, _Entry] = {}
        self._lock = threading.Lock()  # a local server runs several requests on one instance

    def stale(self, queues: Sequence[QueueLevel], now: int) -> list[QueueLevel]:
        """The queue-levels whose marker must be read again: never read, or trusted no longer."""
        entries = self._entries
        return [
            q for q in dict.fromkeys(queues) if (e := entries.get(q)) is None or now - e.read_at >= GATES_TRUSTED_MS
        ]

    def record(self, queues: Sequence[QueueLevel], read_at: int, cleared_before: Mapping[QueueLevel, int]) -> None:
        """Remembers a read of `queues`' markers begun at `read_at`; an older read never
        replaces a newer one (concurrent takes of one instance may finish out of order)."""
        with self._lock:
            for q in queues:
                current = self._entries.get(q)
                if current is None or current.read_at <= read_at:
                    self._entries[q] = _Entry(cleared_before.get(q), read_at)

    def markers(self, queues: Sequence[QueueLevel]) -> tuple[dict[QueueLevel, int], int]:
        """The standing markers of `queues` and the start of the oldest read they come from.
        A queue never recorded has none: a sequential take queries it unbounded and reads its
        marker before claiming from it (take.py)."""
        entries = {q: e for q in queues if (e := self._entries.get(q)) is not None}
        cleared = {q: e.cleared_before for q, e in entries.items() if e.cleared_before is not None}
        return cleared, min((e.read_at for e in entries.values()), default=0)
