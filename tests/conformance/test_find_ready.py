"""Putting and reading tasks, and what the ready index suggests (store/tasks.py put_task,
get_task, find_ready), on every backend."""

from __future__ import annotations

import pytest

from taskq.clock import ManualClock
from taskq.store import DynamoStore, IdempotencyConflict, IdempotencyRecord
from tests.conformance.factory import CHAT, Q, put_waiting, waiting_task


def ready_ids(store: DynamoStore, clock: ManualClock, limit: int = 10, **filters) -> list[str]:
    return [c.task_id for c in store.find_ready(Q, clock.now_ms(), limit, **filters)]


def test_a_put_task_reads_back_as_written(store: DynamoStore, clock: ManualClock) -> None:
    task = waiting_task(clock, callback_url="https://example.com/hook", data={"n": [1, "two", None]})

    assert store.put_task(task, None, clock.now_ms()) == task.task_id

    assert store.get_task(task.task_id) == task
    assert store.get_task(task.task_id).data == {"n": [1, "two", None]}
    assert store.get_task("TASK-0000000000000-0000000000000000") is None


def test_find_ready_answers_oldest_first_up_to_the_limit(store: DynamoStore, clock: ManualClock) -> None:
    # put in reverse time order, so the answer's order is the index's, not the writes'
    tasks = [waiting_task(clock, start_time=clock.now_ms() - age) for age in (10, 30, 20)]
    for task in tasks:
        store.put_task(task, None, clock.now_ms())

    oldest_first = [t.task_id for t in sorted(tasks, key=lambda t: t.start_time)]
    assert ready_ids(store, clock) == oldest_first
    assert ready_ids(store, clock, limit=2) == oldest_first[:2]


def test_find_ready_skips_expired_tasks(store: DynamoStore, clock: ManualClock) -> None:
    [short] = put_waiting(store, clock, expire_time=clock.now_ms() + 5_000)
    [lasting] = put_waiting(store, clock)
    assert ready_ids(store, clock) == [short.task_id, lasting.task_id]

    clock.advance(ms=5_000)  # `expire_time` is the first instant the task is expired

    assert ready_ids(store, clock) == [lasting.task_id]


def test_find_ready_skips_tasks_not_yet_visible(store: DynamoStore, clock: ManualClock) -> None:
    [delayed] = put_waiting(store, clock, visible_time=clock.now_ms() + 10_000)
    [ready] = put_waiting(store, clock)
    assert ready_ids(store, clock) == [ready.task_id]

    clock.advance(ms=10_000)

    assert ready_ids(store, clock) == [delayed.task_id, ready.task_id]


def test_find_ready_with_an_endpoint_reads_past_other_endpoints(store: DynamoStore, clock: ManualClock) -> None:
    put_waiting(store, clock, 25)  # chat tasks at the head: more than the first page
    [embed] = put_waiting(store, clock, endpoint="/v1/embeddings")

    assert ready_ids(store, clock, limit=1, endpoint="/v1/embeddings") == [embed.task_id]
    assert len(ready_ids(store, clock, limit=30, endpoint=CHAT)) == 25


def test_find_ready_put_before_keeps_only_tasks_old_enough(store: DynamoStore, clock: ManualClock) -> None:
    old = put_waiting(store, clock, 2)
    cut = clock.now_ms() - 1  # the last old task's start_time: "at or before" includes it
    put_waiting(store, clock, 2)

    assert ready_ids(store, clock, put_before=cut) == [t.task_id for t in old]


def test_find_ready_put_after_keeps_only_tasks_after_a_clear(store: DynamoStore, clock: ManualClock) -> None:
    put_waiting(store, clock, 2)
    cleared_before = clock.now_ms() - 1  # a clear covers tasks put at or before this instant
    young = put_waiting(store, clock, 2)

    assert ready_ids(store, clock, put_after=cleared_before) == [t.task_id for t in young]


def test_find_ready_both_bounds_keep_the_tasks_between(store: DynamoStore, clock: ManualClock) -> None:
    put_waiting(store, clock)
    cleared_before = clock.now_ms() - 1
    middle = put_waiting(store, clock, 2)
    put_before = clock.now_ms() - 1
    put_waiting(store, clock)

    assert ready_ids(store, clock, put_after=cleared_before, put_before=put_before) == [t.task_id for t in middle]


def test_find_ready_min_age_reaching_before_the_clear_finds_nothing(store: DynamoStore, clock: ManualClock) -> None:
    # Given tasks before and after a clear, and a minimum age that reaches back before the clear
    put_waiting(store, clock, 2)
    cleared_before = clock.now_ms() - 1
    put_waiting(store, clock, 2)
    put_before = cleared_before - 1

    # Then no task is both after the clear and old enough: an empty answer, not an error
    assert ready_ids(store, clock, put_after=cleared_before, put_before=put_before) == []


@pytest.mark.needs_transactions
def test_a_repeated_idempotent_put_answers_the_first_task(store: DynamoStore, clock: ManualClock) -> None:
    now = clock.now_ms()
    first, second, other_body = waiting_task(clock), waiting_task(clock), waiting_task(clock)
    record = IdempotencyRecord("ak-producer-0001", "key-1", body_hash="hash-a")

    assert store.put_task(first, record, now) == first.task_id
    assert store.put_task(second, record, now + 1) == first.task_id
    with pytest.raises(IdempotencyConflict):
        store.put_task(other_body, IdempotencyRecord("ak-producer-0001", "key-1", body_hash="hash-b"), now + 2)

    assert store.get_task(second.task_id) is None
    assert store.get_task(other_body.task_id) is None
    assert ready_ids(store, clock) == [first.task_id]
