"""Regressions of issue 10, defect 6: a completed task's status always agrees with its stored
result, however completes under one lease interleave or repeat after a crash."""

from __future__ import annotations

from typing import Any

import pytest
from apigw import Caller
from steps import complete, get, lease_call, put, register, take_one

from taskq.models import Principal, Role
from taskq.service import QueueService
from taskq.store import DynamoStore

QUEUE = "results"
WORKER = Principal("ak-worker-0001", Role.WORKER)


class Crash(Exception):
    """The process died here."""


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, QUEUE)


def assert_agrees(task: dict[str, Any], status: str, status_code: int) -> None:
    assert (task["status"], task["result"]["status_code"]) == (status, status_code), task


def test_two_completes_under_one_lease_end_with_the_status_of_the_stored_result(
    producer: Caller, worker: Caller, service: QueueService, store: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a running task, and two completes under its lease: 200 first, then 500
    task_id = put(producer, QUEUE)
    lease = take_one(worker, QUEUE)["lease_id"]
    finish = store.finish
    second: list[str] = []

    def second_complete_first(*args: Any, **kwargs: Any) -> bool:
        if not second:  # both have written their result before either changes the status
            second.append("started")
            second.append(service.complete(WORKER, task_id, {"status_code": 500}, lease))
        return finish(*args, **kwargs)

    monkeypatch.setattr(store, "finish", second_complete_first)

    # When the first one's status change comes last
    answer = complete(worker, task_id, {"status_code": 200}, lease)

    # Then both answered, and the status is that of the result stored (the first one written)
    assert answer.status == 200 and second == ["started", task_id]
    assert_agrees(get(worker, task_id).body, "succeeded", 200)


def test_a_complete_repeated_after_a_crash_with_another_result_keeps_status_and_result_together(
    producer: Caller, worker: Caller, service: QueueService, store: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker that died after storing a 200 result, before the status change
    task_id = put(producer, QUEUE)
    lease = take_one(worker, QUEUE)["lease_id"]
    with monkeypatch.context() as patch:

        def crash(*_: Any, **__: Any) -> bool:
            raise Crash()

        patch.setattr(store, "finish", crash)
        with pytest.raises(Crash):
            service.complete(WORKER, task_id, {"status_code": 200}, lease)

    # When the complete is repeated under the same lease with a failing result
    assert complete(worker, task_id, {"status_code": 503}, lease).status == 200

    # Then the status follows the result that was stored first
    assert_agrees(get(worker, task_id).body, "succeeded", 200)


def test_a_complete_after_the_same_lease_spent_its_retries_is_a_409_and_keeps_the_failure(
    producer: Caller, worker: Caller
) -> None:
    # Given a task whose worker gave it back with no retry left: it ended failed, retries exhausted
    task_id = put(producer, QUEUE)
    lease = take_one(worker, QUEUE, process_max_retries=0)["lease_id"]
    assert lease_call("retry", worker, task_id, lease, {"reason": "gave up"}).status == 200

    # When a complete comes in under that same lease (with its header, and without)
    with_header = complete(worker, task_id, {"status_code": 200}, lease)
    without_header = complete(worker, task_id, {"status_code": 200})

    # Then neither is acknowledged (its result would be dropped), and the failure stands
    assert (with_header.status, without_header.status) == (409, 409), (with_header, without_header)
    task = get(worker, task_id).body
    assert (task["status"], task["result"]["message"]) == ("failed", "retries exhausted"), task
