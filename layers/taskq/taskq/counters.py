"""Queue counters from the Tasks stream (spec §3.10): which counters a status change moves,
summed per queue-level for a batch, and applied exactly once even when a batch is replayed.

A stream record's images carry the task's status before and after the write, so counting needs
no read and puts, takes and completes gain no write.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .models import QueueLevel, Status

COMPLETED = frozenset({Status.SUCCEEDED, Status.FAILED, Status.TIMEOUT})
# Sequence numbers are decimal strings of up to 40 digits; zero-padded, string order is number
# order (within one shard, the only place they are compared).
SEQUENCE_DIGITS = 40


@dataclass(frozen=True)
class StatusChange:
    task_id: str
    queue: QueueLevel
    old: Status | None  # None: the task was just put
    new: Status


def sequence_key(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"]).zfill(SEQUENCE_DIGITS)


def _status(image: Mapping[str, Any] | None) -> Status | None:
    return None if not image else Status(image["status"]["S"])


def status_change(record: Mapping[str, Any]) -> StatusChange | None:
    """The change of status a stream record shows; None when the status stayed (a heartbeat)
    or the item was removed (TTL deletes only finished tasks, whose counts stay)."""
    images = record.get("dynamodb", {})
    old, new = images.get("OldImage"), images.get("NewImage")
    if not new:
        return None
    old_status, new_status = _status(old), _status(new)
    if old_status is new_status:
        return None
    queue = QueueLevel(new["queue"]["S"], int(new["level"]["N"]))
    return StatusChange(new["task_id"]["S"], queue, old_status, new_status)  # type: ignore[arg-type]


def counter_deltas(change: StatusChange) -> Counter[str]:
    """What one change adds: the old status loses one, the new gains one; a put, a claim and
    the end with a result (succeeded, failed, timeout) also count in the totals."""
    deltas: Counter[str] = Counter({change.new.value: 1})
    if change.old is None:
        deltas["total_put_cnt"] += 1
    else:
        deltas[change.old.value] -= 1
    if change.new is Status.RUNNING:
        deltas["total_taken_cnt"] += 1
    if change.new in COMPLETED:
        deltas["total_completed_cnt"] += 1
    return deltas


def count_by_queue(changes: Sequence[StatusChange]) -> dict[QueueLevel, dict[str, int]]:
    """The summed deltas per queue-level, without the ones that cancel out."""
    totals: dict[QueueLevel, Counter[str]] = {}
    for change in changes:
        totals.setdefault(change.queue, Counter()).update(counter_deltas(change))
    summed = {queue: {k: v for k, v in deltas.items() if v} for queue, deltas in totals.items()}
    return {queue: deltas for queue, deltas in summed.items() if deltas}


class CounterStore(Protocol):
    def add_counts(
        self,
        counts: Mapping[QueueLevel, Mapping[str, int]],
        *,
        marker: str,
        through: str,
        previous: str | None,
        now: int,
    ) -> bool: ...

    def marker_position(self, marker: str) -> str | None: ...

    def set_marker(self, marker: str, through: str, now: int) -> None: ...


class BatchCounter:
    """Applies one stream batch (records of one shard, in order) to the counters.

    Lambda retries a batch from its first record, or from the first record the function
    reported failed; the function never bisects. Both starting points carry a marker naming the
    last sequence number counted, so a retry adds only the records beyond it.
    """

    def __init__(self, store: CounterStore, records: Sequence[Mapping[str, Any]], now: int) -> None:
        self._store = store
        self._records = list(records)
        self._now = now
        # How far this shard is known to be counted: this batch's end, or further when a
        # marker shows an earlier (longer) batch counted beyond it.
        self.through = max(map(sequence_key, self._records), default="")

    def apply(self) -> None:
        if not self._records:
            return
        marker = self._records[0]["eventID"]
        counted_through: str | None = None  # None: as far as we know, nothing was counted yet
        for _ in range(3):
            pending = [r for r in self._records if counted_through is None or sequence_key(r) > counted_through]
            counts = count_by_queue([c for c in map(status_change, pending) if c is not None])
            if not counts:
                return  # nothing (more) to add: a replay needs no marker to stay exact
            added = self._store.add_counts(
                counts, marker=marker, through=self.through, previous=counted_through, now=self._now
            )
            if added:
                return
            counted_through = self._store.marker_position(marker)
            if counted_through is not None:
                self.through = max(self.through, counted_through)
        raise RuntimeError(f"stream batch {marker}: its marker keeps moving; retry the batch")

    def mark_retry_start(self, record: Mapping[str, Any]) -> None:
        """Called for the first record reported failed: Lambda's retry starts there."""
        self._store.set_marker(record["eventID"], self.through, self._now)
