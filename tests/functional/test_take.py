"""POST /v1/queue/take (spec §3.3): the answer's shape, `size`, leases and who may take."""

from __future__ import annotations

import pytest
from apigw import Caller, call
from steps import get, put, register, take, taken_ids

from taskq.clock import ManualClock

Q = "test-queue:0"


@pytest.fixture(autouse=True)
def queues(admin: Caller) -> None:
    register(admin, "test-queue")
    register(admin, "other-queue")


def test_nothing_available_answers_an_empty_object(worker: Caller) -> None:
    assert take(worker, [Q, "other-queue:3"], 10) == {}


def test_only_queues_that_yielded_tasks_are_keys(producer: Caller, worker: Caller) -> None:
    put(producer, "other-queue", level=2)

    answer = take(worker, [Q, "other-queue:2", "other-queue:0"], 10)

    assert list(answer) == ["other-queue:2"]


def test_each_task_is_returned_as_it_stands_after_the_claim(
    producer: Caller, worker: Caller, clock: ManualClock
) -> None:
    task_id = put(producer, "test-queue")
    before = get(producer, task_id).body
    clock.advance(seconds=5)

    (task,) = take(worker, [Q], 1)[Q]

    assert task["status"] == "running"
    assert task["running_time"] == clock.now_ms()
    assert task["lease_id"]
    assert task["lease_expire_time"] == before["expire_time"]  # no process_timeout: until expire_time
    assert task["attempts"] == 1
    unchanged = ["ak", "endpoint", "queue", "level", "data", "task_id", "instance_id", "start_time", "expire_time"]
    assert {k: task[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert (task["completed_time"], task["callback_url"], task["response_mode"]) == (0, "", "callback")


def test_process_timeout_sets_the_lease_end(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    put(producer, "test-queue")

    (task,) = take(worker, [Q], 1, process_timeout=120)[Q]

    assert task["lease_expire_time"] == clock.now_ms() + 120_000


def test_the_lease_never_outlasts_expire_time(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    put(producer, "test-queue", timeout=60)

    (task,) = take(worker, [Q], 1, process_timeout=3600)[Q]

    assert task["lease_expire_time"] == task["expire_time"] == clock.now_ms() + 60_000


def test_every_lease_is_distinct(producer: Caller, worker: Caller) -> None:
    for _ in range(5):
        put(producer, "test-queue")

    tasks = take(worker, [Q], 5)[Q]

    assert len({t["lease_id"] for t in tasks}) == 5


def test_a_taken_task_is_running_for_everyone(producer: Caller, worker: Caller) -> None:
    task_id = put(producer, "test-queue")
    take(worker, [Q], 1)

    assert get(producer, task_id).body["status"] == "running"
    assert take(Caller("ak-worker-0002", "worker"), [Q], 10) == {}


def test_size_100_takes_100_tasks(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    """No hidden cap (the reference system silently capped fifo at 10)."""
    for _ in range(101):
        put(producer, "test-queue")
        clock.advance(ms=1)

    first = taken_ids(take(worker, [Q], 100))[Q]
    second = taken_ids(take(worker, [Q], 100))[Q]

    assert len(first) == len(set(first)) == 100
    assert len(second) == 1
    assert not set(first) & set(second)


@pytest.mark.parametrize("size", [1, 3, 7])
def test_size_is_the_most_taken(producer: Caller, worker: Caller, size: int) -> None:
    for _ in range(10):
        put(producer, "test-queue")

    assert len(take(worker, [Q], size)[Q]) == size


def test_tasks_taken_across_calls_are_never_repeated(producer: Caller, worker: Caller) -> None:
    ids = {put(producer, "test-queue") for _ in range(12)}

    seen = [tid for _ in range(5) for tid in taken_ids(take(worker, [Q], 3)).get(Q, [])]

    assert sorted(seen) == sorted(ids)


def test_the_answer_uses_the_full_names_as_requested(producer: Caller, worker: Caller) -> None:
    put(producer, "test-queue", level=0)
    put(producer, "test-queue", level=1)

    answer = take(worker, ["test-queue:1", Q], 10)

    assert sorted(answer) == ["test-queue:0", "test-queue:1"]
    assert [t["level"] for t in answer["test-queue:1"]] == [1]


def test_levels_of_one_queue_are_separate_queues(producer: Caller, worker: Caller) -> None:
    put(producer, "test-queue", level=1)

    assert take(worker, [Q], 10) == {}
    assert list(take(worker, ["test-queue:1"], 10)) == ["test-queue:1"]


def test_an_admin_may_take(producer: Caller, admin: Caller) -> None:
    put(producer, "test-queue")

    assert list(take(admin, [Q], 1)) == [Q]


def test_a_producer_may_not_take(producer: Caller) -> None:
    put(producer, "test-queue")

    answer = call("POST", "/v1/queue/take", {"queues": [Q], "size": 1}, producer)

    assert answer.status == 403
    assert get(producer, put(producer, "test-queue")).body["status"] == "waiting"


def test_a_worker_takes_only_from_its_patterns(admin: Caller, producer: Caller) -> None:
    register(admin, "deepseek-r1")
    put(producer, "deepseek-r1")
    deepseek = Caller("ak-ds", "worker", ("deepseek-*",))

    assert list(take(deepseek, ["deepseek-r1:0"], 1)) == ["deepseek-r1:0"]
    answer = call("POST", "/v1/queue/take", {"queues": ["deepseek-r1:0", Q], "size": 1}, deepseek)
    assert answer.status == 403
    assert "test-queue" in answer.body["message"]
