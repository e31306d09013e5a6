"""POST /v1/queue/{task_id}/complete (spec §3.4)."""

from __future__ import annotations

import pytest
from apigw import Caller, call
from steps import cancel, complete, get, put, register, take

from taskq.clock import ManualClock

Q = "test-queue:0"
RESULT = {"status_code": 200, "request_id": "req-1", "body": {"choices": [{"message": {"content": "Hi"}}]}}


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, "test-queue")


@pytest.fixture
def running(producer: Caller, worker: Caller) -> dict:
    """A task taken by `worker`, as take answered it."""
    put(producer, "test-queue")
    (task,) = take(worker, [Q], 1)[Q]
    return task


def test_complete_answers_the_task_id_and_stores_the_result(
    running: dict, worker: Caller, producer: Caller, clock: ManualClock
) -> None:
    clock.advance(seconds=3)

    answer = complete(worker, running["task_id"], RESULT)

    assert (answer.status, answer.body) == (200, running["task_id"])
    task = get(producer, running["task_id"]).body
    assert task["status"] == "succeeded"
    assert task["result"] == RESULT
    assert task["completed_time"] == clock.now_ms()


@pytest.mark.parametrize(
    ("status_code", "final"),
    [
        (200, "succeeded"),
        (201, "succeeded"),
        (299, "succeeded"),
        ("200", "succeeded"),
        ("204", "succeeded"),
        (None, "succeeded"),
        (199, "failed"),
        (302, "failed"),
        (408, "failed"),
        (500, "failed"),
        ("503", "failed"),
        ("404", "failed"),
    ],
)
def test_the_final_status_follows_status_code(
    running: dict, worker: Caller, producer: Caller, status_code, final: str
) -> None:
    result = {"request_id": "r", "body": {}} | ({} if status_code is None else {"status_code": status_code})

    assert complete(worker, running["task_id"], result).status == 200

    assert get(producer, running["task_id"]).body["status"] == final


@pytest.mark.parametrize("status_code", ["abc", "", {"code": 200}, [200], True, "2 00"])
def test_an_unreadable_status_code_is_rejected(running: dict, worker: Caller, producer: Caller, status_code) -> None:
    answer = complete(worker, running["task_id"], {"status_code": status_code})

    assert answer.status == 400
    assert "status_code" in answer.body["message"]
    assert get(producer, running["task_id"]).body["status"] == "running"


def test_a_repeat_is_an_idempotent_200_that_changes_nothing(
    running: dict, worker: Caller, producer: Caller, clock: ManualClock
) -> None:
    complete(worker, running["task_id"], RESULT)
    before = get(producer, running["task_id"]).body
    clock.advance(seconds=10)

    again = complete(worker, running["task_id"], {"status_code": 500, "body": "different"})

    assert (again.status, again.body) == (200, running["task_id"])
    assert get(producer, running["task_id"]).body == before


def test_the_current_lease_is_accepted(running: dict, worker: Caller, producer: Caller) -> None:
    answer = complete(worker, running["task_id"], RESULT, lease_id=running["lease_id"])

    assert answer.status == 200
    assert complete(worker, running["task_id"], RESULT, lease_id=running["lease_id"]).status == 200


def test_a_stale_lease_conflicts_on_a_running_task(running: dict, worker: Caller, producer: Caller) -> None:
    answer = complete(worker, running["task_id"], RESULT, lease_id="LEASE-not-the-current-one")

    assert answer.status == 409
    assert "X-Lease-Id" in answer.body["message"]
    assert get(producer, running["task_id"]).body["status"] == "running"


def test_a_stale_lease_conflicts_even_on_a_finished_task(running: dict, worker: Caller) -> None:
    complete(worker, running["task_id"], RESULT)

    answer = complete(worker, running["task_id"], RESULT, lease_id="LEASE-not-the-current-one")

    assert answer.status == 409


def test_the_lease_header_name_is_case_insensitive(running: dict, worker: Caller) -> None:
    path = f"/v1/queue/{running['task_id']}/complete"

    answer = call("POST", path, RESULT, worker, {"x-lease-id": "LEASE-not-the-current-one"})

    assert answer.status == 409


def test_completing_a_waiting_task_conflicts(producer: Caller, worker: Caller) -> None:
    task_id = put(producer, "test-queue")

    assert complete(worker, task_id, RESULT).status == 409
    assert get(producer, task_id).body["status"] == "waiting"


def test_completing_a_cancelled_task_conflicts(running: dict, producer: Caller, worker: Caller) -> None:
    cancel(producer, running["task_id"])

    answer = complete(worker, running["task_id"], RESULT, lease_id=running["lease_id"])

    assert answer.status == 409
    assert get(producer, running["task_id"]).body["status"] == "cancelled"


def test_an_unknown_task_is_not_found(worker: Caller) -> None:
    answer = complete(worker, "TASK-1750000000000-0000000000000000", RESULT)

    assert answer.status == 404
    assert "task_id" in answer.body["message"]


def test_a_task_outside_the_workers_queues_is_not_found(running: dict) -> None:
    stranger = Caller("ak-other-worker", "worker", ("deepseek-*",))

    assert complete(stranger, running["task_id"], RESULT).status == 404


def test_a_producer_may_not_complete(running: dict, producer: Caller) -> None:
    assert complete(producer, running["task_id"], RESULT).status == 403
    assert get(producer, running["task_id"]).body["status"] == "running"


def test_a_result_over_256_kib_is_too_large(running: dict, worker: Caller, producer: Caller) -> None:
    answer = complete(worker, running["task_id"], {"status_code": 200, "body": "x" * (256 * 1024)})

    assert answer.status == 413
    assert "result" in answer.body["message"]
    assert get(producer, running["task_id"]).body["status"] == "running"
    assert complete(worker, running["task_id"], RESULT).status == 200  # a smaller result still fits


def test_a_result_just_under_256_kib_is_accepted(running: dict, worker: Caller, producer: Caller) -> None:
    result = {"status_code": 200, "body": "x" * (256 * 1024 - 100)}

    assert complete(worker, running["task_id"], result).status == 200
    assert get(producer, running["task_id"]).body["result"] == result


def test_a_non_ascii_result_within_256_kib_is_accepted(running: dict, worker: Caller, producer: Caller) -> None:
    result = {"status_code": 200, "body": {"content": "你好世界" * 20_000}}  # 240 000 bytes as UTF-8

    assert complete(worker, running["task_id"], result).status == 200
    assert get(producer, running["task_id"]).body["result"] == result


@pytest.mark.parametrize("body", ["[]", '"done"', "null", "42", "{"])
def test_a_result_that_is_not_a_json_object_is_rejected(running: dict, worker: Caller, body: str) -> None:
    answer = call("POST", f"/v1/queue/{running['task_id']}/complete", body, worker)

    assert answer.status == 400
    assert answer.body["code"] == 400
