"""POST /v1/queue/{task_id}/heartbeat (spec §3.7): a worker extends its live lease to now +
process_timeout, never past expire_time; fenced by X-Lease-Id; an ended lease is never extended."""

from __future__ import annotations

from typing import Any

import pytest
import steps
from apigw import Answer, Caller
from steps import cancel, complete, get, lease_call, put, register, take, taken_ids

from taskq.clock import ManualClock
from taskq.store import DynamoStore
from taskq.sweeper import Sweeper

QUEUE = "hb"


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, QUEUE)


def take_one(worker: Caller, **fields: Any) -> dict[str, Any]:
    return steps.take_one(worker, QUEUE, **fields)


def heartbeat(caller: Caller, task_id: str, lease_id: str | None, body: Any = None) -> Answer:
    return lease_call("heartbeat", caller, task_id, lease_id, body)


def assert_error(answer: Answer, status: int) -> None:
    assert answer.status == status, answer
    assert set(answer.body) == {"code", "message", "timestamp"} and answer.body["code"] == status, answer.body


def test_a_take_with_process_timeout_grants_a_lease_of_that_length(
    producer: Caller, worker: Caller, clock: ManualClock
) -> None:
    task_id = put(producer, QUEUE)
    clock.advance(5)

    task = take_one(worker, process_timeout=30)

    assert task["task_id"] == task_id and task["lease_id"]
    assert task["running_time"] == clock.now_ms()
    assert task["lease_expire_time"] == task["running_time"] + 30_000


@pytest.mark.parametrize(("body", "seconds"), [(None, 30), ({}, 30), ({"process_timeout": 60}, 60)])
def test_heartbeat_extends_the_lease_to_now_plus_process_timeout(
    producer: Caller, worker: Caller, clock: ManualClock, body: Any, seconds: int
) -> None:
    # Given a task taken with a 30 s lease, 20 s into it
    task_id = put(producer, QUEUE)
    lease = take_one(worker, process_timeout=30)["lease_id"]
    clock.advance(20)

    # When the worker heartbeats (the take's process_timeout, or the one in the body)
    answer = heartbeat(worker, task_id, lease, body)

    # Then the lease ends that long from now, under the same lease id
    until = clock.now_ms() + seconds * 1000
    assert (answer.status, answer.body) == (200, {"task_id": task_id, "lease_expire_time": until})
    task = get(worker, task_id).body
    assert (task["status"], task["lease_id"], task["lease_expire_time"]) == ("running", lease, until)


@pytest.mark.parametrize("body", [None, {"process_timeout": 60}])
def test_heartbeat_never_extends_past_expire_time(producer: Caller, worker: Caller, clock: ManualClock, body) -> None:
    task_id = put(producer, QUEUE, timeout=40)
    task = take_one(worker, process_timeout=30)
    clock.advance(20)

    answer = heartbeat(worker, task_id, task["lease_id"], body)

    assert (answer.status, answer.body) == (200, {"task_id": task_id, "lease_expire_time": task["expire_time"]})
    assert get(worker, task_id).body["lease_expire_time"] == task["expire_time"]


def test_without_a_process_timeout_the_lease_stays_at_expire_time(
    producer: Caller, worker: Caller, clock: ManualClock
) -> None:
    task_id = put(producer, QUEUE, timeout=600)
    task = take_one(worker)
    assert task["lease_expire_time"] == task["expire_time"]
    clock.advance(100)

    answer = heartbeat(worker, task_id, task["lease_id"])

    assert (answer.status, answer.body) == (200, {"task_id": task_id, "lease_expire_time": task["expire_time"]})


@pytest.mark.parametrize("body", [None, {"process_timeout": 60}])
def test_a_missing_lease_header_is_a_400_naming_it(producer: Caller, worker: Caller, body: Any) -> None:
    task_id = put(producer, QUEUE)
    take_one(worker, process_timeout=30)

    answer = heartbeat(worker, task_id, None, body)

    assert_error(answer, 400)
    assert "x-lease-id" in answer.body["message"].lower()


@pytest.mark.parametrize("value", [0, 43_201, "60", True])
def test_an_out_of_range_process_timeout_is_a_400(producer: Caller, worker: Caller, value: Any) -> None:
    task_id = put(producer, QUEUE)
    lease = take_one(worker, process_timeout=30)["lease_id"]

    answer = heartbeat(worker, task_id, lease, {"process_timeout": value})

    assert_error(answer, 400)
    assert "process_timeout" in answer.body["message"]


def test_a_wrong_or_stale_lease_is_a_409(
    producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock
) -> None:
    # Given a task whose first lease ended and was replaced by a second take
    task_id = put(producer, QUEUE)
    stale = take_one(worker, process_timeout=10, process_max_retries=1)["lease_id"]
    clock.advance(11)
    assert Sweeper(store, clock).sweep()["requeue"] == 1
    current = take_one(worker, process_timeout=10)
    before = current["lease_expire_time"]

    # Then neither the stale lease nor a made-up one may extend it
    assert_error(heartbeat(worker, task_id, stale), 409)
    assert_error(heartbeat(worker, task_id, "LEASE-made-up"), 409)
    task = get(worker, task_id).body
    assert (task["lease_id"], task["lease_expire_time"]) == (current["lease_id"], before)
    assert heartbeat(worker, task_id, current["lease_id"]).status == 200


@pytest.mark.parametrize("seconds", [30, 31, 300])
def test_an_ended_lease_is_never_extended_even_before_the_sweep(
    producer: Caller, worker: Caller, clock: ManualClock, seconds: int
) -> None:
    task_id = put(producer, QUEUE)
    task = take_one(worker, process_timeout=30)
    clock.advance(seconds)  # no sweeper ran: the task still reads running

    answer = heartbeat(worker, task_id, task["lease_id"])

    assert_error(answer, 409)
    after = get(worker, task_id).body
    assert (after["status"], after["lease_expire_time"]) == ("running", task["lease_expire_time"])


def test_a_completed_or_cancelled_task_is_a_409(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    done_id = put(producer, QUEUE)
    clock.advance(ms=1)
    cancelled_id = put(producer, QUEUE)
    done = take_one(worker, process_timeout=30)
    cancelled = take_one(worker, process_timeout=30)
    assert (done["task_id"], cancelled["task_id"]) == (done_id, cancelled_id)
    assert complete(worker, done_id, {"status_code": 200}, done["lease_id"]).status == 200
    assert cancel(producer, cancelled_id).status == 202

    assert_error(heartbeat(worker, done_id, done["lease_id"]), 409)
    assert_error(heartbeat(worker, cancelled_id, cancelled["lease_id"]), 409)
    assert [get(worker, t).body["status"] for t in (done_id, cancelled_id)] == ["succeeded", "cancelled"]


def test_only_a_worker_that_may_see_the_task_may_heartbeat(producer: Caller, worker: Caller) -> None:
    task_id = put(producer, QUEUE)
    lease = take_one(worker, process_timeout=30)["lease_id"]

    # Not yours: a worker outside the queue's patterns, another producer, an unknown id — all 404
    assert_error(heartbeat(Caller("ak-worker-other", "worker", ("other-*",)), task_id, lease), 404)
    assert_error(heartbeat(Caller("ak-producer-other", "producer"), task_id, lease), 404)
    assert_error(heartbeat(worker, "TASK-1750000000000-0000000000000000", lease), 404)
    # The producer that put it sees it, but is not a worker
    assert_error(heartbeat(producer, task_id, lease), 403)
    assert heartbeat(worker, task_id, lease).status == 200


def test_a_heartbeat_keeps_the_sweeper_away_until_the_new_lease_end(
    producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock
) -> None:
    # Given a 30 s lease extended at 20 s to end at 50 s
    task_id = put(producer, QUEUE)
    lease = take_one(worker, process_timeout=30, process_max_retries=1)["lease_id"]
    clock.advance(20)
    assert heartbeat(worker, task_id, lease).status == 200

    # When the sweeper runs past the original end: the task stays with its worker
    clock.advance(29.999)
    assert Sweeper(store, clock).sweep()["requeue"] == 0
    task = get(worker, task_id).body
    assert (task["status"], task["lease_id"], task["attempts"]) == ("running", lease, 1)

    # Then at the new end it is given back
    clock.advance(ms=1)
    assert Sweeper(store, clock).sweep()["requeue"] == 1
    assert get(worker, task_id).body["status"] == "waiting"


def test_a_heartbeat_keeps_the_sequential_lock_with_the_lease(producer: Caller, worker: Caller, clock: ManualClock):
    # Given a sequential take with a 10 s lease, extended at 5 s to end at 15 s
    first = put(producer, QUEUE)
    clock.advance(ms=1)
    second = put(producer, QUEUE)
    lease = take_one(worker, strategy="sequential", process_timeout=10)["lease_id"]
    clock.advance(5)
    assert heartbeat(worker, first, lease).status == 200

    # Then past the original end the queue stays locked: one running sequential task per queue
    clock.advance(9.999)
    assert take(worker, [f"{QUEUE}:0"], 1, strategy="sequential") == {}
    clock.advance(ms=1)
    assert taken_ids(take(worker, [f"{QUEUE}:0"], 1, strategy="sequential")) == {f"{QUEUE}:0": [second]}
