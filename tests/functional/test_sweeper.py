"""Lease end and expiry (spec §3.9; docs/design.md "The sweeper"): the sweeper gives a task whose
lease ended back while retries remain, else ends it timeout; a waiting task past expire_time ends
timeout; takes and sequential locks never wait for it. Its cost follows the due tasks only."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from apigw import Caller, LambdaContextStub
from steps import CHAT, complete, get, put, register, take, taken_ids

import taskq_sweeper.app
from taskq.clock import ManualClock
from taskq.ids import new_task_id
from taskq.models import QueueLevel, Status, Task
from taskq.store import DynamoStore
from taskq.store.keys import SWEEP_SHARDS_READ, lock_key
from taskq.sweeper import Sweeper

QUEUE = "sw"
Q0 = f"{QUEUE}:0"


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, QUEUE)


@pytest.fixture
def sweep(store: DynamoStore, clock: ManualClock):
    return lambda: Sweeper(store, clock).sweep()


def take_one(worker: Caller, **fields: Any) -> dict[str, Any]:
    [task] = take(worker, [Q0], 1, **fields)[Q0]
    return task


def timed_out(task_id: str) -> dict[str, Any]:
    return {"status_code": 408, "request_id": task_id}


def test_a_lease_end_requeues_then_times_out_when_retries_are_spent(
    producer: Caller, worker: Caller, clock: ManualClock, sweep
) -> None:
    # Given a task taken with a 10 s lease and one retry, whose worker went silent
    task_id = put(producer, QUEUE)
    first = take_one(worker, process_timeout=10, process_max_retries=1)
    clock.advance(9.999)
    assert set(sweep()) <= {"not_due"}
    assert get(worker, task_id).body["status"] == "running"

    # When the sweeper runs at its end, it is waiting again in its place; the old lease is fenced off
    clock.advance(ms=1)
    assert sweep() == Counter({"requeue": 1})
    task = get(worker, task_id).body
    assert (task["status"], task["attempts"], task["start_time"]) == ("waiting", 1, first["start_time"])
    assert complete(worker, task_id, {"status_code": 200}, first["lease_id"]).status == 409
    second = take_one(worker, process_timeout=10, process_max_retries=1)
    assert (second["task_id"], second["attempts"]) == (task_id, 2)
    assert complete(worker, task_id, {"status_code": 200}, first["lease_id"]).status == 409

    # When the second lease ends too, it times out with the 408 result
    clock.advance(11)
    assert sweep() == Counter({"timeout": 1})
    task = get(worker, task_id).body
    assert (task["status"], task["completed_time"], task["result"]) == ("timeout", clock.now_ms(), timed_out(task_id))
    assert take(worker, [Q0], 1) == {}


def test_a_lease_ending_at_expire_time_times_out_despite_retries(
    producer: Caller, worker: Caller, clock: ManualClock, sweep
) -> None:
    task_id = put(producer, QUEUE, timeout=20)
    take_one(worker, process_timeout=30, process_max_retries=5)  # the lease is capped at expire_time
    clock.advance(20)

    assert sweep() == Counter({"timeout": 1})
    assert get(worker, task_id).body["result"] == timed_out(task_id)


def test_an_expired_task_is_never_handed_out_and_the_sweep_times_it_out(
    producer: Caller, worker: Caller, clock: ManualClock, sweep
) -> None:
    # Given an older task that expires at 5 s and a younger one that does not
    expiring = put(producer, QUEUE, timeout=5)
    clock.advance(1)
    lasting = put(producer, QUEUE, timeout=600)
    clock.advance(4)

    # Then a take before any sweep skips the expired one
    assert taken_ids(take(worker, [Q0], 2)) == {Q0: [lasting]}
    assert get(worker, expiring).body["status"] == "waiting"

    # And the sweep ends it timeout with the 408 result
    assert sweep() == Counter({"timeout": 1})
    task = get(worker, expiring).body
    assert (task["status"], task["result"]) == ("timeout", timed_out(expiring))


def lock_holder(dynamodb) -> str | None:
    item = dynamodb.get_item(TableName=os.environ["CONTROL_TABLE"], Key=lock_key(QueueLevel.parse(Q0))).get("Item")
    return None if item is None else item["task_id"]["S"]


def test_the_sweeper_releases_a_sequential_lock_at_lease_end(
    producer: Caller, worker: Caller, clock: ManualClock, sweep, dynamodb
) -> None:
    first = put(producer, QUEUE)
    clock.advance(1)
    put(producer, QUEUE)
    take_one(worker, strategy="sequential", process_timeout=10, process_max_retries=1)
    assert lock_holder(dynamodb) == first
    clock.advance(11)

    assert sweep() == Counter({"requeue": 1})

    assert lock_holder(dynamodb) is None
    again = take_one(worker, strategy="sequential", process_timeout=10)
    assert (again["task_id"], again["attempts"]) == (first, 2)  # its place kept, the queue free


def test_a_sequential_lock_lapses_with_its_lease_before_any_sweep(
    producer: Caller, worker: Caller, clock: ManualClock
) -> None:
    put(producer, QUEUE)
    clock.advance(1)
    second = put(producer, QUEUE)
    take_one(worker, strategy="sequential", process_timeout=10)

    clock.advance(9.999)
    assert take(worker, [Q0], 1, strategy="sequential") == {}
    clock.advance(ms=1)
    assert taken_ids(take(worker, [Q0], 1, strategy="sequential")) == {Q0: [second]}


def test_a_task_completed_after_its_lease_ended_is_left_alone(
    producer: Caller, worker: Caller, clock: ManualClock, sweep
) -> None:
    # Given a lease that ended, with nothing redelivered yet: the late complete is accepted
    task_id = put(producer, QUEUE)
    lease = take_one(worker, process_timeout=10, process_max_retries=1)["lease_id"]
    clock.advance(11)
    result = {"status_code": 200, "body": "late but done"}
    assert complete(worker, task_id, result, lease).body == task_id

    # Then the sweep finds nothing to do, and the result stands
    assert set(sweep()) <= {"not_due"}
    task = get(worker, task_id).body
    assert (task["status"], task["attempts"], task["result"]) == ("succeeded", 1, result)


def backlog(store: DynamoStore, clock: ManualClock, count: int) -> None:
    """Tasks the sweeper must not touch: waiting or running far from their end, and finished."""
    now = clock.now_ms()
    kinds = [
        {"status": Status.WAITING},
        {"status": Status.RUNNING, "running_time": now, "lease_expire_time": now + 3_600_000, "attempts": 1},
        {"status": Status.SUCCEEDED, "running_time": now, "completed_time": now, "attempts": 1},
    ]
    for i in range(count):
        at = now - 10_000 + i
        fields = {"ak": "ak-producer-0001", "queue": "backlog", "level": 0, "endpoint": CHAT, "data": {"i": i}}
        task = Task(task_id=new_task_id(at), start_time=at, expire_time=now + 86_400_000, **fields, **kinds[i % 3])
        store.put_task(task, None, now)


@pytest.mark.parametrize("others", [10, pytest.param(2_000, marks=pytest.mark.slow)])
def test_a_sweep_costs_the_same_however_many_other_tasks_there_are(
    producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, dynamodb, sweep, others: int
) -> None:
    # Given 2 tasks whose leases ended, beside a backlog of tasks that are not due
    backlog(store, clock, others)
    due = [put(producer, QUEUE) for _ in range(2)]
    assert sorted(taken_ids(take(worker, [Q0], 2, process_timeout=10, process_max_retries=1))[Q0]) == sorted(due)
    clock.advance(11)

    calls: Counter[str] = Counter()  # DynamoDB requests by operation, as test_take_cost.py counts them
    dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
    report = sweep()

    # Then one Query per shard, and per due task one GetItem and one conditional UpdateItem
    assert report == Counter({"requeue": 2})
    assert calls == Counter({"Query": SWEEP_SHARDS_READ, "GetItem": 2, "UpdateItem": 2})


def test_the_sweeper_function_reports_what_it_did_and_a_second_run_does_nothing(
    producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, sweep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(taskq_sweeper.app, "_sweeper", Sweeper(store, clock))
    context = LambdaContextStub(function_name="taskq-SweeperFunction")
    requeued = put(producer, QUEUE)
    clock.advance(ms=1)
    expired = put(producer, QUEUE, timeout=5)
    take_one(worker, process_timeout=3, process_max_retries=1)
    clock.advance(6)

    # When the scheduled function runs: one lease ended with a retry left, one waiting task expired
    assert taskq_sweeper.app.lambda_handler({}, context) == {"requeue": 1, "timeout": 1}
    after = [get(worker, t).body for t in (requeued, expired)]
    assert [(t["status"], t["attempts"]) for t in after] == [("waiting", 1), ("timeout", 0)]
    assert after[1]["result"] == timed_out(expired)

    # Then running it again (or a plain sweep) finds nothing and changes nothing
    assert taskq_sweeper.app.lambda_handler({}, context) == {}
    assert set(sweep()) <= {"not_due"}
    assert [get(worker, t).body for t in (requeued, expired)] == after
