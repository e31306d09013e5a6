"""sequential (spec §3.3): at most one running sequential task per queue; from each unlocked queue,
in listed order, its earliest eligible task; at most one per queue per call and `size` in all.
The lock ends when the task reaches a final status (complete, cancel) or its lease ends."""

from __future__ import annotations

import pytest
from apigw import Caller
from steps import cancel, complete, put, register, take, taken_ids

from taskq.clock import ManualClock

NAMES = ["seq-1", "seq-2", "seq-3"]
QUEUES = [f"{n}:0" for n in NAMES]


@pytest.fixture(autouse=True)
def queues(admin: Caller) -> None:
    for name in NAMES:
        register(admin, name)


@pytest.fixture
def backlog(producer: Caller, clock: ManualClock) -> dict[str, list[str]]:
    """Three tasks per queue, put in rounds one second apart: ids per full queue name, oldest first."""
    ids: dict[str, list[str]] = {q: [] for q in QUEUES}
    for _ in range(3):
        for name, full in zip(NAMES, QUEUES, strict=True):
            ids[full].append(put(producer, name))
            clock.advance(seconds=1)
    return ids


def sequential(worker: Caller, size: int = 10, queues: list[str] = QUEUES, **fields) -> dict[str, list[str]]:
    return taken_ids(take(worker, queues, size, strategy="sequential", **fields))


def test_one_task_per_queue_the_earliest(worker: Caller, backlog: dict) -> None:
    assert sequential(worker) == {q: ids[:1] for q, ids in backlog.items()}


def test_size_limits_the_queues_served_in_listed_order(worker: Caller, backlog: dict) -> None:
    assert sequential(worker, size=2) == {QUEUES[0]: backlog[QUEUES[0]][:1], QUEUES[1]: backlog[QUEUES[1]][:1]}
    assert sequential(worker, size=2) == {QUEUES[2]: backlog[QUEUES[2]][:1]}


def test_listed_order_not_age_decides_who_is_served_first(worker: Caller, backlog: dict) -> None:
    reversed_list = QUEUES[::-1]

    assert sequential(worker, size=1, queues=reversed_list) == {QUEUES[2]: backlog[QUEUES[2]][:1]}


def test_queues_are_skipped_while_their_task_runs(worker: Caller, backlog: dict) -> None:
    sequential(worker)

    assert sequential(worker) == {}
    assert sequential(Caller("ak-worker-0002", "worker")) == {}  # the lock is the queue's, not the caller's


def test_complete_releases_the_lock(worker: Caller, backlog: dict) -> None:
    first = sequential(worker)
    assert complete(worker, first[QUEUES[1]][0]).status == 200

    assert sequential(worker) == {QUEUES[1]: backlog[QUEUES[1]][1:2]}


def test_a_failed_complete_releases_the_lock_too(worker: Caller, backlog: dict) -> None:
    first = sequential(worker)
    assert complete(worker, first[QUEUES[0]][0], {"status_code": 500}).status == 200

    assert sequential(worker) == {QUEUES[0]: backlog[QUEUES[0]][1:2]}


def test_cancel_releases_the_lock(producer: Caller, worker: Caller, backlog: dict) -> None:
    first = sequential(worker)
    assert cancel(producer, first[QUEUES[2]][0]).status == 202

    assert sequential(worker) == {QUEUES[2]: backlog[QUEUES[2]][1:2]}


def test_the_lock_ends_with_the_lease(worker: Caller, backlog: dict, clock: ManualClock) -> None:
    sequential(worker, process_timeout=30)
    clock.advance(seconds=29)
    assert sequential(worker) == {}

    clock.advance(seconds=2)

    assert sequential(worker) == {q: ids[1:2] for q, ids in backlog.items()}


def test_a_queue_works_through_its_tasks_one_at_a_time(worker: Caller, backlog: dict) -> None:
    served = []
    for _ in range(4):
        answer = sequential(worker, queues=QUEUES[:1])
        served += answer.get(QUEUES[0], [])
        for task_id in answer.get(QUEUES[0], []):
            complete(worker, task_id)

    assert served == backlog[QUEUES[0]]


def test_a_locked_queue_does_not_cost_the_others_their_turn(worker: Caller, backlog: dict) -> None:
    sequential(worker, size=1)

    assert sequential(worker, size=1) == {QUEUES[1]: backlog[QUEUES[1]][:1]}
    assert sequential(worker, size=1) == {QUEUES[2]: backlog[QUEUES[2]][:1]}


def test_empty_queues_are_skipped(producer: Caller, worker: Caller) -> None:
    task_id = put(producer, "seq-3")

    assert sequential(worker, size=1) == {QUEUES[2]: [task_id]}


def test_the_earliest_eligible_task_skips_ineligible_ones(producer: Caller, worker: Caller) -> None:
    put(producer, "seq-1", endpoint="/v1/embeddings")
    wanted = put(producer, "seq-1")

    assert sequential(worker, endpoint="/v1/chat/completions") == {QUEUES[0]: [wanted]}


def test_a_late_finish_of_the_lapsed_holder_leaves_the_new_holders_lock(
    worker: Caller, backlog: dict, clock: ManualClock
) -> None:
    """After a lease ends, the next task holds the lock; the old task finishing late must not free it."""
    q = QUEUES[0]
    old = sequential(worker, queues=[q], process_timeout=30)[q][0]
    clock.advance(seconds=31)
    assert sequential(worker, queues=[q], process_timeout=300) == {q: backlog[q][1:2]}

    complete(worker, old)  # accepted or refused: either way the lock is not old's to release

    assert sequential(worker, queues=[q]) == {}
