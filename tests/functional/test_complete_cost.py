"""Issue 16, point 2: a common complete is one conditional write; the 404 / 403 / 409 decision is
made by a read only when that write's condition fails (docs/design.md "Completing, cancelling
and fencing", "Cost per call"). Status and result are written together, so they always agree.

Requests are counted on the moto client the store uses (`RequestCounter` of test_take_cost).
moto returns the item a failed condition saw (`ReturnValuesOnConditionCheckFailure`), as
DynamoDB does, so a failed write needs no read here; dynalite ignores it and the store then
reads (tests/conformance/test_transitions.py runs the same write on every backend).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from apigw import Caller
from steps import complete, get, put, register, take, take_one
from test_take_cost import RequestCounter

from taskq.clock import ManualClock
from taskq.leases import TIMEOUT_RESULT_KEY
from taskq.models import Status
from taskq.store import DynamoStore
from taskq.store.transitions import INLINE_RESULT_BYTES
from taskq.sweeper import Sweeper
from tests.faults import FaultPlan, Kind, Scripted

QUEUE = "done"
RESULT = {"status_code": 200, "request_id": "req-1", "body": {"choices": [{"text": "¡hola!"}], "t": 0.5}}
pytestmark = pytest.mark.without_stream  # nothing here reads it; see the `dynamodb` fixture


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, QUEUE)


@pytest.fixture
def counting(dynamodb):
    return lambda: RequestCounter(dynamodb)


@pytest.fixture
def running(producer: Caller, worker: Caller) -> dict[str, Any]:
    task_id = put(producer, QUEUE)
    task = take_one(worker, QUEUE)
    assert task["task_id"] == task_id
    return task


def large_result() -> dict[str, Any]:
    return {"status_code": 200, "text": "x" * (INLINE_RESULT_BYTES + 1)}


# --- request counts ------------------------------------------------------------------------


def test_a_common_complete_is_one_update_and_get_reads_its_result_in_one_read(
    running: dict, worker: Caller, counting
) -> None:
    with counting() as completing:
        answer = complete(worker, running["task_id"], RESULT, running["lease_id"])
    with counting() as reading:
        task = get(worker, running["task_id"]).body

    assert answer.status == 200, answer
    assert completing.calls == Counter({"UpdateItem": 1})
    assert reading.calls == Counter({"GetItem": 1})
    assert (task["status"], task["result"]) == ("succeeded", RESULT)


def test_a_worker_whose_patterns_cover_the_queue_completes_in_one_write(running: dict, counting) -> None:
    patterned = Caller("ak-worker-0002", "worker", ("other", "do*"))
    with counting() as c:
        answer = complete(patterned, running["task_id"], RESULT, running["lease_id"])

    assert answer.status == 200, answer
    assert c.calls == Counter({"UpdateItem": 1})


def test_a_worker_outside_the_queue_gets_404_even_with_the_lease(running: dict, worker: Caller) -> None:
    # The lease alone does not authorize: the write's condition also names the key's queues
    for patterns in (("other",), ("d?ne-x",), ("x*",)):
        outsider = Caller("ak-worker-0003", "worker", patterns)
        answer = complete(outsider, running["task_id"], RESULT, running["lease_id"])
        assert answer.status == 404, (patterns, answer)
    assert get(worker, running["task_id"]).body["status"] == "running"


def test_a_producer_holding_the_lease_is_still_refused(
    running: dict, producer: Caller, worker: Caller, counting
) -> None:
    other = Caller("ak-producer-0002", "producer")
    with counting() as c:
        own = complete(producer, running["task_id"], RESULT, running["lease_id"])
    not_own = complete(other, running["task_id"], RESULT, running["lease_id"])

    assert (own.status, not_own.status) == (403, 404), (own, not_own)
    assert c.calls == Counter({"GetItem": 1})  # no write attempted without a worker's role
    assert get(worker, running["task_id"]).body["status"] == "running"


def test_a_stale_lease_is_a_failed_write_and_a_409(running: dict, worker: Caller, counting) -> None:
    with counting() as c:
        answer = complete(worker, running["task_id"], RESULT, "LEASE-stale")

    assert answer.status == 409, answer
    assert c.calls == Counter({"UpdateItem": 1})  # the failed condition returned the task
    assert get(worker, running["task_id"]).body["status"] == "running"


def test_a_repeated_complete_is_an_idempotent_200_in_one_request(running: dict, worker: Caller, counting) -> None:
    complete(worker, running["task_id"], RESULT, running["lease_id"])
    with counting() as c:
        again = complete(worker, running["task_id"], {"status_code": 500}, running["lease_id"])

    assert again.status == 200, again
    assert c.calls == Counter({"UpdateItem": 1})
    task = get(worker, running["task_id"]).body
    assert (task["status"], task["result"]) == ("succeeded", RESULT)


def test_a_sequential_lock_holder_completes_with_a_failed_write_and_a_transaction(
    producer: Caller, worker: Caller, counting
) -> None:
    task_id = put(producer, QUEUE)
    [task] = take(worker, [f"{QUEUE}:0"], 1, strategy="sequential")[f"{QUEUE}:0"]
    with counting() as c:
        answer = complete(worker, task_id, RESULT, task["lease_id"])

    assert answer.status == 200, answer
    assert c.calls == Counter({"UpdateItem": 1, "TransactWriteItems": 1})
    assert get(worker, task_id).body["result"] == RESULT
    # the lock went with the status: the next task of the queue is takeable at once
    next_id = put(producer, QUEUE)
    assert take(worker, [f"{QUEUE}:0"], 1, strategy="sequential")[f"{QUEUE}:0"][0]["task_id"] == next_id


def test_a_large_result_keeps_its_own_item(running: dict, worker: Caller, counting) -> None:
    result = large_result()
    with counting() as completing:
        answer = complete(worker, running["task_id"], result, running["lease_id"])
    with counting() as reading:
        task = get(worker, running["task_id"]).body

    assert answer.status == 200, answer
    assert completing.calls == Counter({"GetItem": 1, "PutItem": 1, "UpdateItem": 1})
    assert reading.calls == Counter({"GetItem": 2})  # the task, then its result item
    assert (task["status"], task["result"]) == ("succeeded", result)


def test_a_complete_without_the_lease_header_reads_first(running: dict, worker: Caller, counting) -> None:
    with counting() as c:
        answer = complete(worker, running["task_id"], RESULT)

    assert answer.status == 200, answer
    assert c.calls == Counter({"GetItem": 1, "UpdateItem": 1})
    assert get(worker, running["task_id"]).body["result"] == RESULT


# --- status and result agree under faults and races ------------------------------------------


def test_a_complete_whose_answer_was_lost_is_retried_and_answers_200_with_the_first_result(
    running: dict, worker: Caller, dynamodb: Any
) -> None:
    plan = FaultPlan(script=[Scripted("UpdateItem", 1, Kind.LOST)])
    plan.attach(dynamodb)
    try:
        answer = complete(worker, running["task_id"], RESULT, running["lease_id"])
    finally:
        plan.detach(dynamodb)

    # botocore sent the write again; its condition failed on the task the first one finished
    assert [str(i.kind) for i in plan.injected] == ["lost"]
    assert answer.status == 200, answer
    # the worker's own retry with another result changes nothing
    assert complete(worker, running["task_id"], {"status_code": 503}, running["lease_id"]).status == 200
    task = get(worker, running["task_id"]).body
    assert (task["status"], task["result"]) == ("succeeded", RESULT)


def test_a_complete_beats_a_sweeper_that_read_the_lapsed_lease_first(
    producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = put(producer, QUEUE)
    lease = take_one(worker, QUEUE, process_timeout=10)["lease_id"]
    clock.advance(11)  # the lease lapsed with no retry left: the sweeper would time the task out
    finish, answers = store.finish, []

    def complete_meanwhile(*args: Any, **kwargs: Any) -> bool:
        answers.append(complete(worker, task_id, RESULT, lease).status)
        return finish(*args, **kwargs)

    monkeypatch.setattr(store, "finish", complete_meanwhile)
    report = Sweeper(store, clock).sweep()

    assert answers == [200] and report == Counter({"not_due": 1})
    task = get(worker, task_id).body
    assert (task["status"], task["result"]) == ("succeeded", RESULT)


def test_a_sweeper_timeout_first_makes_the_late_complete_a_409_and_keeps_the_408(
    producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, counting
) -> None:
    task_id = put(producer, QUEUE)
    lease = take_one(worker, QUEUE, process_timeout=10)["lease_id"]
    clock.advance(11)
    with counting() as sweeping:
        assert Sweeper(store, clock).sweep()["timeout"] == 1

    assert complete(worker, task_id, RESULT, lease).status == 409
    # the timeout and its result are one write too: no PutItem into the Results table
    assert sweeping.calls["PutItem"] == 0 and sweeping.calls["UpdateItem"] == 1
    task = get(worker, task_id).body
    assert (task["status"], task["result"]) == ("timeout", {"status_code": 408, "request_id": task_id})


# --- readers of results written before results moved onto the task ---------------------------


def test_a_task_finished_with_its_result_in_the_results_table_still_reads(
    running: dict, worker: Caller, store: DynamoStore, clock: ManualClock
) -> None:
    # Given a task finished as before this change: the result item, then the status change
    task = store.get_task(running["task_id"])
    assert task is not None
    store.put_result(task.task_id, task.lease_id, RESULT, clock.now_ms())
    assert store.finish(task, Status.SUCCEEDED, clock.now_ms(), result_lease=task.lease_id)

    body = get(worker, task.task_id).body

    assert (body["status"], body["result"]) == ("succeeded", RESULT)
    assert store.task_result(task.task_id, task.lease_id) == RESULT
    assert store.task_result(task.task_id, TIMEOUT_RESULT_KEY) is None
