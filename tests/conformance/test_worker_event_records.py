"""Worker events (store/events.py append_events, events_after) on every backend that has
transactions: numbered in order, deduplicated by id, read back after any sequence number."""

from __future__ import annotations

import pytest

from taskq.models import WorkerEvent
from taskq.store import DynamoStore

pytestmark = pytest.mark.needs_transactions

TASK = "TASK-1750000000000-00000000000000e1"
TTL = 1_750_000_000 + 90_000


def events(*ids: str | None, prefix: str = "") -> list[WorkerEvent]:
    return [WorkerEvent(event="message", data=f"{prefix}{i}", id=event_id) for i, event_id in enumerate(ids)]


def read(store: DynamoStore, after: int = 0, *, inside: bool = False) -> list[tuple[int, str | None, object]]:
    return [(e.seq, e.id, e.data) for e in store.events_after(TASK, after, from_batch_start=not inside)]


def test_appends_are_numbered_in_order_across_batches(store: DynamoStore) -> None:
    assert store.append_events(TASK, events("a", None, "b"), TTL) == 3
    assert store.append_events(TASK, events(None, "c", prefix="x"), TTL) == 2

    assert read(store) == [(1, "a", "0"), (2, None, "1"), (3, "b", "2"), (4, None, "x0"), (5, "c", "x1")]
    assert read(store, 3) == [(4, None, "x0"), (5, "c", "x1")]  # from a batch's end
    assert read(store, 1, inside=True) == [(2, None, "1"), (3, "b", "2"), (4, None, "x0"), (5, "c", "x1")]
    assert read(store, 5) == []


def test_an_id_already_stored_is_skipped_and_the_rest_appended_after_it(store: DynamoStore) -> None:
    store.append_events(TASK, events("a", "b"), TTL)

    assert store.append_events(TASK, events("a", "b"), TTL) == 0
    assert store.append_events(TASK, events("b", "c", "c"), TTL) == 1  # "c" twice in one body: once

    assert [(seq, event_id) for seq, event_id, _ in read(store)] == [(1, "a"), (2, "b"), (3, "c")]


def test_a_hundred_events_with_ids_are_all_stored_though_one_transaction_holds_only_a_hundred_items(
    store: DynamoStore,
) -> None:
    ids = [f"e{i}" for i in range(100)]

    assert store.append_events(TASK, events(*ids), TTL) == 100
    assert store.append_events(TASK, events(*ids), TTL) == 0

    assert [event_id for _, event_id, _ in read(store)] == ids
    assert [seq for seq, _, _ in read(store, 50, inside=True)] == list(range(51, 101))


def test_reads_page_through_more_than_a_megabyte_in_order(store: DynamoStore) -> None:
    big = "x" * 60_000
    for n in range(20):  # 1.2 MB: more than one Query page
        store.append_events(TASK, [WorkerEvent(event="message", data=f"{n}:{big}")], TTL)

    assert [str(data).split(":")[0] for _, _, data in read(store)] == [str(n) for n in range(20)]


def test_a_task_without_events_reads_none(store: DynamoStore) -> None:
    assert read(store) == []
    assert read(store, 7, inside=True) == []
