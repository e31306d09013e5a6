"""A process may die between any two steps of a multi-step change. These tests stop one between
its steps, then show the system recovers: no task lost, none run twice, no lock left behind."""

from __future__ import annotations

import pytest

from taskq.clock import ManualClock
from taskq.models import Principal, Role
from taskq.requests import PutRequest, RegisterRequest, TakeRequest
from taskq.service import QueueService
from taskq.store import DynamoStore
from taskq.store.transitions import INLINE_RESULT_BYTES
from taskq.sweeper import Sweeper

ADMIN = Principal("ak-admin", Role.ADMIN)
WORKER = Principal("ak-worker", Role.WORKER)
PRODUCER = Principal("ak-producer", Role.PRODUCER)


# A result too large to be stored on the task: it is written to its own item, then the status.
LARGE = "x" * INLINE_RESULT_BYTES


class Crash(Exception):
    """The process died here."""


def crash(*_args: object, **_kwargs: object) -> None:
    raise Crash()


@pytest.fixture
def queue(service: QueueService) -> str:
    service.register(ADMIN, RegisterRequest(queue="crashy", endpoint="/v1/chat/completions"))
    return "crashy"


def put(service: QueueService, clock: ManualClock, count: int = 1) -> list[str]:
    ids = []
    for n in range(count):
        ids.append(service.put(PRODUCER, PutRequest(queue="crashy", endpoint="/v1/chat/completions", data={"n": n})))
        clock.advance(ms=1)
    return ids


def take(service: QueueService, **options: object) -> list[dict]:
    request = TakeRequest(queues=["crashy:0"], size=1, process_timeout=30, process_max_retries=1, **options)
    return service.take(WORKER, request).get("crashy:0", [])


def test_a_crash_between_writing_the_result_and_finishing_loses_nothing(
    service: QueueService, store: DynamoStore, clock: ManualClock, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a running task whose worker dies after its large result is written to its own item,
    # before the status change (a result stored on the task is one write: nothing in between)
    [task_id] = put(service, clock)
    [first] = take(service)
    with monkeypatch.context() as patch:
        patch.setattr(store, "finish", crash)
        with pytest.raises(Crash):
            service.complete(WORKER, task_id, {"status_code": 200, "body": LARGE}, first["lease_id"])
    assert service.get(WORKER, task_id)["status"] == "running"

    # When its lease ends and the sweeper runs, then another worker takes and completes it
    clock.advance(31)
    assert Sweeper(store, clock).sweep()["requeue"] == 1
    [second] = take(service)
    service.complete(WORKER, task_id, {"status_code": 200, "body": "second"}, second["lease_id"])

    # Then it succeeded once, with the result of the lease that finished it
    task = service.get(WORKER, task_id)
    assert (task["status"], task["attempts"], task["result"]["body"]) == ("succeeded", 2, "second")


def test_the_same_worker_may_repeat_complete_after_a_crash(
    service: QueueService, store: DynamoStore, clock: ManualClock, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    [task_id] = put(service, clock)
    [granted] = take(service)
    with monkeypatch.context() as patch:
        patch.setattr(store, "finish", crash)
        with pytest.raises(Crash):
            service.complete(WORKER, task_id, {"body": LARGE}, granted["lease_id"])

    assert service.complete(WORKER, task_id, {"body": LARGE}, granted["lease_id"]) == task_id
    assert service.get(WORKER, task_id)["result"] == {"body": LARGE}


def test_a_sequential_worker_that_dies_holds_its_queue_only_until_its_lease_ends(
    service: QueueService, store: DynamoStore, clock: ManualClock, queue: str
) -> None:
    # Given a sequential take whose worker dies right after the claim
    first_id, second_id = put(service, clock, 2)
    [abandoned] = take(service, strategy="sequential")
    assert abandoned["task_id"] == first_id

    # Then the queue stays locked while the lease lasts
    assert take(service, strategy="sequential") == []

    # When the lease ends, the lock lapses with it, even before any sweeper ran
    clock.advance(31)
    [next_task] = take(service, strategy="sequential")
    assert next_task["task_id"] == second_id
    service.complete(WORKER, second_id, {}, next_task["lease_id"])

    # And the sweeper gives the abandoned task back, in its fifo place, to be done once
    Sweeper(store, clock).sweep()
    [redelivered] = take(service, strategy="sequential")
    assert (redelivered["task_id"], redelivered["attempts"]) == (first_id, 2)
    service.complete(WORKER, first_id, {}, redelivered["lease_id"])
    assert [service.get(WORKER, t)["status"] for t in (first_id, second_id)] == ["succeeded", "succeeded"]


def test_a_sweeper_that_dies_between_its_steps_is_finished_by_the_next_sweep(
    service: QueueService, store: DynamoStore, clock: ManualClock, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a running task with no retries left whose lease ended
    [task_id] = put(service, clock)
    service.take(WORKER, TakeRequest(queues=["crashy:0"], size=1, process_timeout=5))
    clock.advance(6)

    # When a sweeper dies after writing the timeout result but before the status change
    with monkeypatch.context() as patch:
        patch.setattr(store, "finish", crash)
        with pytest.raises(Crash):
            Sweeper(store, clock).sweep()
    assert service.get(WORKER, task_id)["status"] == "running"

    # Then the next sweep ends it as timeout with the 408 result
    assert Sweeper(store, clock).sweep()["timeout"] == 1
    task = service.get(WORKER, task_id)
    assert (task["status"], task["result"]) == ("timeout", {"status_code": 408, "request_id": task_id})
