"""round_robin (spec §3.3): one task per queue in turn, skipping empty queues, with a starting
queue that rotates across calls, stored with the queue list (not in one function instance)."""

from __future__ import annotations

import pytest
from apigw import Caller
from steps import put, register, take

from taskq.clock import ManualClock
from taskq.config import TableNames
from taskq.service import QueueService
from taskq.store import DynamoStore

NAMES = ["rr-1", "rr-2", "rr-3", "rr-4"]
QUEUES = [f"{n}:0" for n in NAMES]


@pytest.fixture(autouse=True)
def queues(admin: Caller) -> None:
    for name in NAMES:
        register(admin, name)


def fill(producer: Caller, clock: ManualClock, counts: dict[str, int]) -> None:
    for name, count in counts.items():
        for _ in range(count):
            put(producer, name)
            clock.advance(ms=1)


def served(answer: dict) -> list[str]:
    """The queues that yielded tasks, each as often as it yielded one."""
    return sorted(q for q, tasks in answer.items() for _ in tasks)


def serve_one(worker: Caller, queues: list[str] = QUEUES) -> str:
    answer = take(worker, queues, 1, strategy="round_robin")
    assert len(answer) == 1, answer
    return next(iter(answer))


def test_size_1_rotates_through_every_queue(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    fill(producer, clock, dict.fromkeys(NAMES, 3))

    order = [serve_one(worker) for _ in range(6)]

    assert order == [*QUEUES, QUEUES[0], QUEUES[1]]


def test_rotation_skips_empty_queues(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    fill(producer, clock, {"rr-1": 3, "rr-3": 3, "rr-4": 1})

    order = [serve_one(worker) for _ in range(5)]

    assert order == ["rr-1:0", "rr-3:0", "rr-4:0", "rr-1:0", "rr-3:0"]


def test_rotation_continues_after_the_last_queue_served(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    fill(producer, clock, dict.fromkeys(NAMES, 5))
    three = QUEUES[:3]

    assert served(take(worker, three, 2, strategy="round_robin")) == ["rr-1:0", "rr-2:0"]
    assert served(take(worker, three, 2, strategy="round_robin")) == ["rr-1:0", "rr-3:0"]
    assert served(take(worker, three, 2, strategy="round_robin")) == ["rr-2:0", "rr-3:0"]
    assert serve_one(worker, three) == "rr-1:0"


def test_one_task_per_queue_per_turn(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    fill(producer, clock, dict.fromkeys(NAMES[:3], 5))

    answer = take(worker, QUEUES[:3], 7, strategy="round_robin")

    assert {q: len(tasks) for q, tasks in answer.items()} == {"rr-1:0": 3, "rr-2:0": 2, "rr-3:0": 2}


def test_turns_go_on_until_size_or_all_empty(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    fill(producer, clock, {"rr-1": 3, "rr-2": 1, "rr-3": 2})

    answer = take(worker, QUEUES, 10, strategy="round_robin")

    assert {q: len(tasks) for q, tasks in answer.items()} == {"rr-1:0": 3, "rr-2:0": 1, "rr-3:0": 2}


def test_each_queue_yields_its_oldest_first(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    fill(producer, clock, {"rr-1": 3, "rr-2": 3})

    answer = take(worker, QUEUES[:2], 6, strategy="round_robin")

    # Both queues yield all three of their tasks, each queue's in the order they were put.
    starts = {q: [t["start_time"] for t in tasks] for q, tasks in answer.items()}
    assert sorted(starts) == QUEUES[:2]
    assert all(len(s) == 3 and s == sorted(s) for s in starts.values()), starts


def test_the_rotation_lives_in_the_database(
    producer: Caller, worker: Caller, clock: ManualClock, dynamodb: object, serve
) -> None:
    """A brand-new function instance (new service, new store, same tables) continues the rotation."""
    fill(producer, clock, dict.fromkeys(NAMES, 2))
    assert serve_one(worker) == "rr-1:0"

    serve(QueueService(DynamoStore(dynamodb, TableNames.from_env()), clock))
    assert serve_one(worker) == "rr-2:0"

    serve(QueueService(DynamoStore(dynamodb, TableNames.from_env()), clock))
    assert serve_one(worker) == "rr-3:0"


def test_the_rotation_is_shared_by_every_caller_of_the_list(
    producer: Caller, worker: Caller, clock: ManualClock
) -> None:
    fill(producer, clock, dict.fromkeys(NAMES, 2))
    other = Caller("ak-worker-0002", "worker")

    assert [serve_one(w) for w in (worker, other, worker, other)] == QUEUES


def test_a_size_1_take_with_nothing_anywhere_answers_empty(worker: Caller) -> None:
    assert take(worker, QUEUES, 1, strategy="round_robin") == {}
