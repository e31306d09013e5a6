"""Counting status changes from stream images (spec §3.10), and replays counted once."""

from __future__ import annotations

from collections import Counter

import pytest

from taskq.counters import BatchCounter, count_by_queue, counter_deltas, status_change
from taskq.models import QueueLevel, Status

W, R, S, F, T, C = (Status.WAITING, Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.TIMEOUT, Status.CANCELLED)


def image(task_id: str, status: Status | None, queue: str = "q", level: int = 0) -> dict | None:
    if status is None:
        return None
    return {"task_id": {"S": task_id}, "queue": {"S": queue}, "level": {"N": str(level)}, "status": {"S": status.value}}


def record(seq: int, task_id: str, old: Status | None, new: Status | None, queue: str = "q", level: int = 0) -> dict:
    images = {"SequenceNumber": str(seq)}
    if old is not None:
        images["OldImage"] = image(task_id, old, queue, level)
    if new is not None:
        images["NewImage"] = image(task_id, new, queue, level)
    name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    return {"eventID": f"event-{seq}", "eventName": name, "dynamodb": images}


@pytest.mark.parametrize(
    ("old", "new", "deltas"),
    [
        (None, W, {"waiting": 1, "total_put_cnt": 1}),
        (W, R, {"waiting": -1, "running": 1, "total_taken_cnt": 1}),
        (R, S, {"running": -1, "succeeded": 1, "total_completed_cnt": 1}),
        (R, F, {"running": -1, "failed": 1, "total_completed_cnt": 1}),
        (R, T, {"running": -1, "timeout": 1, "total_completed_cnt": 1}),
        (W, T, {"waiting": -1, "timeout": 1, "total_completed_cnt": 1}),
        (W, C, {"waiting": -1, "cancelled": 1}),
        (R, C, {"running": -1, "cancelled": 1}),
        (R, W, {"running": -1, "waiting": 1}),  # a retry or a lease end: not a new take until claimed again
    ],
)
def test_each_transition_moves_its_counters(old, new, deltas) -> None:
    change = status_change(record(1, "t", old, new))
    assert counter_deltas(change) == Counter(deltas)


def test_writes_that_keep_the_status_and_ttl_removals_count_nothing() -> None:
    assert status_change(record(1, "t", R, R)) is None  # heartbeat
    assert status_change(record(2, "t", S, None)) is None  # TTL deleted a finished task: its count stays


def test_a_batch_is_summed_per_queue_level_and_what_cancels_out_is_dropped() -> None:
    changes = [
        status_change(r)
        for r in [
            record(1, "a", None, W),
            record(2, "a", W, R),
            record(3, "b", None, W, level=1),
            record(4, "b", W, C, level=1),
            record(5, "c", None, W, queue="other"),
        ]
    ]
    assert count_by_queue(changes) == {
        QueueLevel("q", 0): {"running": 1, "total_put_cnt": 1, "total_taken_cnt": 1},
        QueueLevel("q", 1): {"cancelled": 1, "total_put_cnt": 1},
        QueueLevel("other", 0): {"waiting": 1, "total_put_cnt": 1},
    }


class MemoryCounters:
    """The store's counter protocol in memory, with DynamoDB's all-or-nothing condition."""

    def __init__(self) -> None:
        self.counts: dict[QueueLevel, Counter[str]] = {}
        self.markers: dict[str, str] = {}
        self.writes = 0

    def add_counts(self, counts, *, marker, through, previous, now) -> bool:
        if self.markers.get(marker) != previous:
            return False
        self.writes += 1
        self.markers[marker] = through
        for queue, deltas in counts.items():
            self.counts.setdefault(queue, Counter()).update(deltas)
        return True

    def marker_position(self, marker):
        return self.markers.get(marker)

    def set_marker(self, marker, through, now) -> None:
        self.markers[marker] = through


BATCH = [record(10, "a", None, W), record(11, "a", W, R), record(12, "b", None, W), record(13, "a", R, S)]
EXPECTED = Counter({"waiting": 1, "succeeded": 1, "total_put_cnt": 2, "total_taken_cnt": 1, "total_completed_cnt": 1})


def test_a_batch_is_one_write_and_its_replay_none() -> None:
    store = MemoryCounters()
    BatchCounter(store, BATCH, 0).apply()
    BatchCounter(store, BATCH, 0).apply()  # Lambda retries the batch after a time-out
    assert store.counts[QueueLevel("q", 0)] == EXPECTED and store.writes == 1


def test_a_replay_with_more_records_counts_only_those() -> None:
    store = MemoryCounters()
    BatchCounter(store, BATCH[:2], 0).apply()
    BatchCounter(store, BATCH, 0).apply()  # the retried batch starts at the same record, and is longer
    assert store.counts[QueueLevel("q", 0)] == EXPECTED


def test_a_retry_from_a_reported_record_counts_only_what_follows_the_batch() -> None:
    store = MemoryCounters()
    first = BatchCounter(store, BATCH[:3], 0)
    first.apply()
    first.mark_retry_start(BATCH[1])  # the function reported BATCH[1] failed: Lambda resumes there
    BatchCounter(store, BATCH[1:], 0).apply()
    assert store.counts[QueueLevel("q", 0)] == EXPECTED


def test_sequence_numbers_compare_as_numbers() -> None:
    store = MemoryCounters()
    short, longer = record(999, "a", None, W), record(1000, "a", W, R)
    BatchCounter(store, [short], 0).apply()
    BatchCounter(store, [short, longer], 0).apply()
    assert store.counts[QueueLevel("q", 0)]["total_taken_cnt"] == 1
