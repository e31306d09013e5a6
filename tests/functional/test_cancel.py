"""POST /v1/queue/{task_id}/cancel (spec §3.5): the producer that put the task, or an admin."""

from __future__ import annotations

import pytest
from apigw import Caller
from steps import cancel, complete, get, put, register, take

from taskq.clock import ManualClock

Q = "test-queue:0"


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, "test-queue")


def test_cancelling_a_waiting_task(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    task_id = put(producer, "test-queue")
    clock.advance(seconds=2)

    answer = cancel(producer, task_id)

    assert (answer.status, answer.body) == (202, task_id)
    task = get(producer, task_id).body
    assert task["status"] == "cancelled"
    assert task["completed_time"] == clock.now_ms()
    assert take(worker, [Q], 10) == {}


def test_cancelling_again_is_still_202(producer: Caller) -> None:
    task_id = put(producer, "test-queue")
    cancel(producer, task_id)

    answer = cancel(producer, task_id)

    assert (answer.status, answer.body) == (202, task_id)


def test_cancelling_a_running_task_fences_its_worker(producer: Caller, worker: Caller) -> None:
    put(producer, "test-queue")
    (task,) = take(worker, [Q], 1)[Q]

    assert cancel(producer, task["task_id"]).status == 202

    assert complete(worker, task["task_id"], lease_id=task["lease_id"]).status == 409
    assert complete(worker, task["task_id"]).status == 409
    assert get(producer, task["task_id"]).body["status"] == "cancelled"


@pytest.mark.parametrize("status_code", [200, 500])
def test_a_succeeded_or_failed_task_cannot_be_cancelled(producer: Caller, worker: Caller, status_code: int) -> None:
    task_id = put(producer, "test-queue")
    take(worker, [Q], 1)
    complete(worker, task_id, {"status_code": status_code})
    before = get(producer, task_id).body

    answer = cancel(producer, task_id)

    assert answer.status == 409
    assert answer.body["code"] == 409
    assert get(producer, task_id).body == before


def test_an_unknown_task_is_not_found(producer: Caller) -> None:
    answer = cancel(producer, "TASK-1750000000000-0000000000000000")

    assert answer.status == 404
    assert "task_id" in answer.body["message"]


def test_another_producers_task_is_not_found(producer: Caller) -> None:
    task_id = put(producer, "test-queue")

    assert cancel(Caller("ak-producer-0002", "producer"), task_id).status == 404
    assert get(producer, task_id).body["status"] == "waiting"


def test_an_admin_may_cancel_any_task(producer: Caller, admin: Caller) -> None:
    task_id = put(producer, "test-queue")

    assert cancel(admin, task_id).status == 202
    assert get(producer, task_id).body["status"] == "cancelled"


def test_a_worker_may_not_cancel(producer: Caller, worker: Caller) -> None:
    task_id = put(producer, "test-queue")

    assert cancel(worker, task_id).status == 403
    assert get(producer, task_id).body["status"] == "waiting"


def test_cancel_without_a_key_is_unauthorized(producer: Caller) -> None:
    task_id = put(producer, "test-queue")

    assert cancel(None, task_id).status == 401
    assert get(producer, task_id).body["status"] == "waiting"
