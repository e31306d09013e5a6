"""Counters with their stream replay markers (store/stats.py) and API keys (store/apikeys.py),
on every backend."""

from __future__ import annotations

import pytest

from taskq.clock import ManualClock
from taskq.keys import ApiKey
from taskq.models import QueueLevel, Role
from taskq.series import MINUTE_MS, SERIES_MINUTES
from taskq.store import COUNTER_FIELDS, DynamoStore
from tests.conformance.factory import Q

ZERO = dict.fromkeys(COUNTER_FIELDS, 0)


@pytest.mark.needs_transactions
def test_counts_are_added_once_per_marker_position(store: DynamoStore, clock: ManualClock) -> None:
    other = QueueLevel("conformance", 1)
    counts = {Q: {"waiting": 2, "total_put_cnt": 2}, other: {"waiting": 1, "total_put_cnt": 1}}

    assert store.add_counts(counts, marker="E1", through="0005", previous=None, now=clock.now_ms())
    # a replay of the same batch finds the marker already there: nothing is added twice
    assert store.add_counts(counts, marker="E1", through="0005", previous=None, now=clock.now_ms()) is False
    assert store.marker_position("E1") == "0005"
    assert store.add_counts({Q: {"waiting": -1, "running": 1}}, marker="E1", through="0009", previous="0005", now=0)

    assert store.queue_stats(Q) == ZERO | {"waiting": 1, "running": 1, "total_put_cnt": 2}
    assert store.all_queue_stats() == [
        (Q, ZERO | {"waiting": 1, "running": 1, "total_put_cnt": 2}),
        (other, ZERO | {"waiting": 1, "total_put_cnt": 1}),
    ]
    assert store.queue_stats(QueueLevel("never", 0)) == ZERO


def test_a_marker_set_alone_reads_back(store: DynamoStore, clock: ManualClock) -> None:
    assert store.marker_position("E7") is None

    store.set_marker("E7", "0042", clock.now_ms())

    assert store.marker_position("E7") == "0042"


@pytest.mark.needs_transactions
def test_an_api_key_is_found_by_its_hash_listed_and_revoked(store: DynamoStore, clock: ManualClock) -> None:
    key = ApiKey("ak-0001", "ingest", Role.PRODUCER, ("conf*",), clock.now_ms())
    store.put_api_key(key, "hash-1")

    assert store.get_api_key("hash-1") == key
    assert store.get_api_key("hash-2") is None
    assert store.list_api_keys() == [key]

    assert store.delete_api_key("ak-0001")
    assert store.delete_api_key("ak-0001") is False
    assert (store.get_api_key("hash-1"), store.list_api_keys()) == (None, [])


@pytest.mark.needs_transactions
def test_each_batch_moves_the_queue_levels_per_minute_series_on(store: DynamoStore, clock: ManualClock) -> None:
    # Given a queue-level with puts and a completion in one minute, and a take in the next
    minute = clock.now_ms() // MINUTE_MS
    store.add_counts(
        {Q: {"waiting": 3, "total_put_cnt": 3}}, marker="E1", through="01", previous=None, now=clock.now_ms()
    )
    done = {"waiting": -1, "succeeded": 1, "total_completed_cnt": 1}
    store.add_counts({Q: done}, marker="E2", through="02", previous=None, now=clock.now_ms() + 1000)
    clock.advance(ms=MINUTE_MS)
    take = {"waiting": -1, "running": 1, "total_taken_cnt": 1}
    store.add_counts({Q: take}, marker="E3", through="03", previous=None, now=clock.now_ms())

    # Then the series holds one entry per minute: puts, completions, and the depth after it
    assert [m.as_row() for m in store.queue_series(Q)] == [[minute, 3, 1, 2, 0], [minute + 1, 0, 0, 1, 1]]
    # and a replayed batch adds nothing to it either
    assert store.add_counts({Q: take}, marker="E3", through="03", previous=None, now=clock.now_ms()) is False
    assert [m.as_row() for m in store.queue_series(Q)][-1] == [minute + 1, 0, 0, 1, 1]


@pytest.mark.needs_transactions
def test_the_series_keeps_only_the_last_hour(store: DynamoStore, clock: ManualClock) -> None:
    for i in range(SERIES_MINUTES + 5):
        put = {"waiting": 1, "total_put_cnt": 1}
        store.add_counts({Q: put}, marker=f"E{i}", through="01", previous=None, now=clock.now_ms())
        clock.advance(ms=MINUTE_MS)

    kept = store.queue_series(Q)
    assert len(kept) == SERIES_MINUTES
    assert kept[-1].minute - kept[0].minute == SERIES_MINUTES - 1
    assert kept[-1].waiting == SERIES_MINUTES + 5


@pytest.mark.needs_transactions
def test_a_batch_of_another_shard_written_in_between_is_not_lost(store: DynamoStore, clock: ManualClock) -> None:
    # Given another shard's batch that writes the same STATS item just after our batch read it
    read = store._stats_items
    interleaved: list[bool] = []

    def read_then_let_another_shard_write(queues):
        found = read(queues)
        if not interleaved:
            interleaved.append(True)
            other = {"waiting": 2, "total_put_cnt": 2}
            assert store.add_counts({Q: other}, marker="OTHER", through="09", previous=None, now=clock.now_ms())
        return found

    store._stats_items = read_then_let_another_shard_write  # type: ignore[method-assign]
    store.add_counts(
        {Q: {"waiting": 1, "total_put_cnt": 1}}, marker="E1", through="01", previous=None, now=clock.now_ms()
    )

    # Then both count, in the counters and in the series
    assert interleaved
    assert store.queue_stats(Q)["total_put_cnt"] == 3
    assert [(m.put, m.waiting) for m in store.queue_series(Q)] == [(3, 3)]
