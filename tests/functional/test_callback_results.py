"""The result a callback POSTs (issue 16 point 2), to a real receiver on 127.0.0.1: a result
stored on the task comes with the stream record that finished the task, so the first attempt
reads nothing; a retry reads it from the task; a large result, and a task finished before
results moved onto the task, are read from the Results table."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from apigw import Caller
from receivers import local_sender, receiving, seen
from steps import complete, put, register, take_one
from stream import Dispatcher
from test_take_cost import RequestCounter

from taskq.clearing import QueueClearer
from taskq.clock import ManualClock
from taskq.delivery import CallbackDispatcher, RetryPolicy
from taskq.models import Status
from taskq.store import DynamoStore
from taskq.store.transitions import INLINE_RESULT_BYTES
from taskq.sweeper import Sweeper
from taskq_dispatcher import wiring

QUEUE = "cbres"
RESULT = {"status_code": 200, "request_id": "req-1", "body": {"choices": [{"text": "¡hola!"}], "t": 0.5}}


@pytest.fixture
def port(store: DynamoStore, clock: ManualClock, dispatcher: Dispatcher) -> Iterator[int]:
    """A real receiver, and the dispatcher wired to post to it with the real sender."""
    sender = CallbackDispatcher(store, clock, local_sender(), RetryPolicy(backoff_seconds=10), workers=1)
    wiring.use(wiring.Wiring(store, clock, sender, QueueClearer(store, clock)))
    with receiving() as port:
        yield port


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, QUEUE)


def running(producer: Caller, worker: Caller, port: int, path: str = "/hook") -> dict[str, Any]:
    task_id = put(producer, QUEUE, callback_url=f"http://cb.example:{port}{path}")
    task = take_one(worker, QUEUE)
    assert task["task_id"] == task_id
    return task


def posted(path: str = "/hook") -> list[Any]:
    return [json.loads(body) for p, _, body in seen if p == path]


def test_the_first_attempt_posts_the_result_the_stream_record_carries(
    producer: Caller, worker: Caller, dispatcher: Dispatcher, dynamodb: Any, port: int
) -> None:
    task = running(producer, worker, port)
    assert complete(worker, task["task_id"], RESULT, task["lease_id"]).status == 200

    with RequestCounter(dynamodb) as c:
        assert dispatcher.run_stream() == {"batchItemFailures": []}

    assert posted() == [RESULT]
    assert c.calls["GetItem"] == 0  # no read of the result: the record's new image has it


def test_a_retry_reads_the_result_from_the_task_in_one_read(
    producer: Caller, worker: Caller, dispatcher: Dispatcher, clock: ManualClock, dynamodb: Any, port: int
) -> None:
    task = running(producer, worker, port, path="/moved")  # a redirect: a failed attempt
    assert complete(worker, task["task_id"], RESULT, task["lease_id"]).status == 200
    dispatcher.run_stream()
    clock.advance(10)

    with RequestCounter(dynamodb) as c:
        dispatcher.run_scheduled()

    assert posted("/moved") == [RESULT, RESULT]
    assert c.calls["GetItem"] == 1


def test_a_large_result_is_posted_from_its_own_item(
    producer: Caller, worker: Caller, dispatcher: Dispatcher, port: int
) -> None:
    task = running(producer, worker, port)
    result = {"status_code": 200, "text": "x" * INLINE_RESULT_BYTES}
    assert complete(worker, task["task_id"], result, task["lease_id"]).status == 200

    dispatcher.run_stream()

    assert posted() == [result]


def test_a_task_finished_before_results_moved_onto_the_task_is_posted_its_result(
    producer: Caller, worker: Caller, dispatcher: Dispatcher, store: DynamoStore, clock: ManualClock, port: int
) -> None:
    # Given a task finished as before: the result item, then the status change without a result
    stored = store.get_task(running(producer, worker, port)["task_id"])
    assert stored is not None
    store.put_result(stored.task_id, stored.lease_id, RESULT, clock.now_ms())
    assert store.finish(stored, Status.SUCCEEDED, clock.now_ms(), result_lease=stored.lease_id)

    dispatcher.run_stream()

    assert posted() == [RESULT]


def test_a_timeout_posts_the_408_written_with_it(
    producer: Caller, worker: Caller, dispatcher: Dispatcher, store: DynamoStore, clock: ManualClock, port: int
) -> None:
    task_id = put(producer, QUEUE, callback_url=f"http://cb.example:{port}/hook", timeout=5)
    clock.advance(6)
    assert Sweeper(store, clock).sweep() == Counter({"timeout": 1})

    dispatcher.run_stream()

    assert posted() == [{"status_code": 408, "request_id": task_id}]
