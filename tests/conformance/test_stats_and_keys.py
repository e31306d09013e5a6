"""Counters with their stream replay markers (store/stats.py) and API keys (store/apikeys.py),
on every backend."""

from __future__ import annotations

import pytest

from taskq.clock import ManualClock
from taskq.keys import ApiKey
from taskq.models import QueueLevel, Role
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
