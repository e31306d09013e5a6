"""fifo (spec §3.3): the `size` earliest eligible tasks across all listed queues, merged globally."""

from __future__ import annotations

import pytest
from apigw import Caller
from steps import put, register, take, taken_ids

from taskq.clock import ManualClock

A, B, C = "queue-a:0", "queue-b:1", "queue-c:0"


@pytest.fixture(autouse=True)
def queues(admin: Caller) -> None:
    for name in ("queue-a", "queue-b", "queue-c"):
        register(admin, name)


@pytest.fixture
def put_in_order(producer: Caller, clock: ManualClock):
    """Puts one task per named queue, one second apart; answers their ids in put order."""

    def put_all(*full_names: str) -> list[str]:
        ids = []
        for full in full_names:
            name, level = full.split(":")
            ids.append(put(producer, name, level=int(level)))
            clock.advance(seconds=1)
        return ids

    return put_all


def test_fifo_merges_all_queues_by_start_time(worker: Caller, put_in_order) -> None:
    a1, b1, a2, b2, a3, b3 = put_in_order(A, B, A, B, A, B)

    answer = taken_ids(take(worker, [A, B], 4, strategy="fifo"))

    assert answer == {A: [a1, a2], B: [b1, b2]}
    assert taken_ids(take(worker, [A, B], 4, strategy="fifo")) == {A: [a3], B: [b3]}


def test_fifo_takes_only_from_the_queue_holding_the_oldest(worker: Caller, put_in_order) -> None:
    """Not one per queue, not the first queue first: strictly the oldest tasks."""
    b1, b2, b3, a1, a2 = put_in_order(B, B, B, A, A)

    assert taken_ids(take(worker, [A, B], 3, strategy="fifo")) == {B: [b1, b2, b3]}
    assert taken_ids(take(worker, [A, B], 3, strategy="fifo")) == {A: [a1, a2]}


def test_fifo_is_the_default_strategy(worker: Caller, put_in_order) -> None:
    b1, a1, b2, c1 = put_in_order(B, A, B, C)

    assert taken_ids(take(worker, [A, B, C], 3)) == {A: [a1], B: [b1, b2]}
    assert taken_ids(take(worker, [A, B, C], 3)) == {C: [c1]}


def test_fifo_order_does_not_depend_on_the_listed_order(worker: Caller, put_in_order) -> None:
    c1, a1, b1, c2 = put_in_order(C, A, B, C)

    assert taken_ids(take(worker, [B, A, C], 2, strategy="fifo")) == {C: [c1], A: [a1]}
    assert taken_ids(take(worker, [B, A, C], 2, strategy="fifo")) == {B: [b1], C: [c2]}


def test_each_queues_list_is_in_start_time_order(worker: Caller, put_in_order) -> None:
    ids = put_in_order(A, A, A, A, A)

    assert taken_ids(take(worker, [A], 5, strategy="fifo")) == {A: ids}


def test_ties_within_one_millisecond_are_ordered_by_task_id(producer: Caller, worker: Caller) -> None:
    ids = [put(producer, "queue-a") for _ in range(6)]  # the manual clock stands still

    answer = taken_ids(take(worker, [A], 6, strategy="fifo"))

    assert answer[A] == sorted(ids)


def test_a_later_put_does_not_jump_the_queue(worker: Caller, put_in_order) -> None:
    (a1,) = put_in_order(A)
    take(worker, [A, B], 1)
    b1, a2 = put_in_order(B, A)

    assert taken_ids(take(worker, [A, B], 1)) == {B: [b1]}
    assert taken_ids(take(worker, [A, B], 1)) == {A: [a2]}
    assert a1 not in (b1, a2)
