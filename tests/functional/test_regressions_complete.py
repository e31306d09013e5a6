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
from taskq.store.transitions import INLINE_RESULT_BYTES

QUEUE = "results"
WORKER = Principal("ak-worker-0001", Role.WORKER)


class Crash(Exception):
    """The process died here."""


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, QUEUE)


def assert_agrees(task: dict[str, Any], status: str, status_code: int) -> None:
    assert (task["status"], task["result"]["status_code"]) == (status, status_code), task


def large(status_code: int) -> dict[str, Any]:
    """A result too large to be stored on the task: its own item first, then the status."""
    return {"status_code": status_code, "text": "x" * INLINE_RESULT_BYTES}


@pytest.mark.parametrize(
    ("write", "first", "second", "stored"),
    [
        # results on the task: the write that lands first carries status and result together
        ("complete_running", {"status_code": 200}, {"status_code": 500}, ("failed", 500)),
        # large results: the first result item written under the lease decides the status
        ("finish", large(200), large(500), ("succeeded", 200)),
    ],
)
def test_two_completes_under_one_lease_end_with_the_status_of_the_stored_result(
    producer: Caller,
    worker: Caller,
    service: QueueService,
    store: DynamoStore,
    monkeypatch: pytest.MonkeyPatch,
    write: str,
    first: dict[str, Any],
    second: dict[str, Any],
    stored: tuple[str, int],
) -> None:
    # Given a running task, and two completes under its lease
    task_id = put(producer, QUEUE)
    lease = take_one(worker, QUEUE)["lease_id"]
    original = getattr(store, write)
    answers: list[str] = []

    def second_complete_first(*args: Any, **kwargs: Any) -> Any:
        if not answers:  # the second complete runs while the first is about to write the status
            answers.append("started")
            answers.append(service.complete(WORKER, task_id, second, lease))
        return original(*args, **kwargs)

    monkeypatch.setattr(store, write, second_complete_first)

    # When the first one's status change comes last
    answer = complete(worker, task_id, first, lease)

    # Then both answered, and the status is that of the result stored
    assert answer.status == 200 and answers == ["started", task_id]
    assert_agrees(get(worker, task_id).body, *stored)


def test_a_complete_repeated_after_a_crash_with_another_result_keeps_status_and_result_together(
    producer: Caller, worker: Caller, service: QueueService, store: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker that died after storing a large 200 result, before the status change
    task_id = put(producer, QUEUE)
    lease = take_one(worker, QUEUE)["lease_id"]
    with monkeypatch.context() as patch:

        def crash(*_: Any, **__: Any) -> bool:
            raise Crash()

        patch.setattr(store, "finish", crash)
        with pytest.raises(Crash):
            service.complete(WORKER, task_id, large(200), lease)

    # When the complete is repeated under the same lease with a failing result
    assert complete(worker, task_id, large(503), lease).status == 200

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
