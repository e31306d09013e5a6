"""GET /v1/queue/{task_id} (spec §3.6, §2 "Not yours → 404")."""

from __future__ import annotations

import pytest
from apigw import Caller
from steps import CHAT_DATA, cancel, complete, get, put, register, take

Q = "test-queue:0"
RESULT = {"status_code": 200, "request_id": "req-1", "body": {"answer": 42}}
UNKNOWN = "TASK-1750000000000-0000000000000000"


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, "test-queue")


def test_the_producer_sees_its_waiting_task_without_a_result(producer: Caller) -> None:
    task_id = put(producer, "test-queue")

    answer = get(producer, task_id)

    assert answer.status == 200
    assert answer.body["task_id"] == task_id
    assert answer.body["data"] == CHAT_DATA
    assert answer.body["attempts"] == 0
    assert "result" not in answer.body


def test_a_running_task_shows_its_attempt_and_no_result(producer: Caller, worker: Caller) -> None:
    task_id = put(producer, "test-queue")
    take(worker, [Q], 1)

    task = get(producer, task_id).body

    assert (task["status"], task["attempts"]) == ("running", 1)
    assert "result" not in task


@pytest.mark.parametrize(("status_code", "final"), [(200, "succeeded"), (502, "failed")])
def test_the_result_is_present_once_final(producer: Caller, worker: Caller, status_code: int, final: str) -> None:
    task_id = put(producer, "test-queue")
    take(worker, [Q], 1)
    result = RESULT | {"status_code": status_code}
    complete(worker, task_id, result)

    task = get(producer, task_id).body

    assert task["status"] == final
    assert task["result"] == result
    assert task["completed_time"] > 0


def test_the_first_result_stays_after_a_repeated_complete(producer: Caller, worker: Caller) -> None:
    task_id = put(producer, "test-queue")
    take(worker, [Q], 1)
    complete(worker, task_id, RESULT)
    complete(worker, task_id, {"status_code": 200, "body": "second"})

    assert get(producer, task_id).body["result"] == RESULT


def test_a_cancelled_task_shows_cancelled(producer: Caller) -> None:
    task_id = put(producer, "test-queue")
    cancel(producer, task_id)

    assert get(producer, task_id).body["status"] == "cancelled"


def test_another_producer_gets_the_same_404_as_for_an_unknown_id(producer: Caller) -> None:
    task_id = put(producer, "test-queue")
    other = Caller("ak-producer-0002", "producer")

    theirs, unknown = get(other, task_id), get(other, UNKNOWN)

    assert theirs.status == unknown.status == 404
    assert theirs.body["message"].replace(task_id, "<id>") == unknown.body["message"].replace(UNKNOWN, "<id>")
    assert "data" not in theirs.body


def test_a_worker_sees_tasks_of_its_queues_only(admin: Caller, producer: Caller) -> None:
    register(admin, "deepseek-r1")
    mine = put(producer, "deepseek-r1")
    elsewhere = put(producer, "test-queue")
    deepseek = Caller("ak-ds-worker", "worker", ("deepseek-*",))

    assert get(deepseek, mine).status == 200
    assert get(deepseek, elsewhere).status == 404


def test_an_admin_sees_every_task(producer: Caller, admin: Caller) -> None:
    task_id = put(producer, "test-queue")

    assert get(admin, task_id).body["task_id"] == task_id


def test_an_unknown_id_is_not_found_naming_the_task_id(admin: Caller) -> None:
    answer = get(admin, UNKNOWN)

    assert answer.status == 404
    assert answer.body["code"] == 404
    assert "task_id" in answer.body["message"]


def test_get_without_a_key_is_unauthorized(producer: Caller) -> None:
    task_id = put(producer, "test-queue")

    assert get(None, task_id).status == 401
