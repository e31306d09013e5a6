"""POST /v1/queue/put in the online function (spec §3.2, §4.2): callback puts answered at once,
blocking puts answered with the worker's result, 408 at the deadline or when the lease ended
with no retry left (the task cancelled or timed out), 409 when cancelled."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from apigw import Caller
from online import ScriptedSleep, context_header, online_client, put_body
from steps import cancel, complete, get, register, take

from taskq.callbacks import CallbackGuard
from taskq.clock import ManualClock, SystemClock
from taskq.service import QueueService
from taskq.store import DynamoStore


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> str:
    register(admin, "test-queue")
    return "test-queue"


class Worker:
    """A worker acting through the API function's handler, one step at a time."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.task: dict[str, Any] | None = None

    def take(self, **fields: Any) -> None:
        [self.task] = take(self.caller, ["test-queue:0"], 1, **fields)["test-queue:0"]

    def complete(self, result: dict[str, Any]) -> None:
        assert self.task is not None
        answer = complete(self.caller, self.task["task_id"], result, self.task["lease_id"])
        assert answer.status == 200, answer


def blocking_put(service: QueueService, sleep: ScriptedSleep | None, caller: Caller, **fields: Any):
    with online_client(service, sleep) as client:
        return client.post(
            "/v1/queue/put", json=put_body(response_mode="blocking", **fields), headers=context_header(caller)
        )


def test_a_callback_put_is_answered_at_once(service: QueueService, producer: Caller) -> None:
    with online_client(service) as client:
        answer = client.post("/v1/queue/put", json=put_body(), headers=context_header(producer))

    assert answer.status_code == 200
    assert set(answer.json()) == {"code", "timestamp", "data"}
    assert answer.json()["data"].startswith("TASK-")


@pytest.mark.parametrize(
    ("result", "status", "body"),
    [
        ({"status_code": 200, "request_id": "r", "body": {"answer": 42}}, 200, {"answer": 42}),
        ({"body": {"answer": 42}}, 200, {"answer": 42}),  # status_code defaults to 200
        ({"status_code": 201}, 201, {}),  # no body: {}
        ({"status_code": 500, "body": {"error": "boom"}}, 500, {"error": "boom"}),
        ({"status_code": "503", "body": "busy"}, 503, "busy"),  # a numeric string
    ],
)
def test_a_blocking_put_answers_with_the_workers_result(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller, result, status, body
) -> None:
    hand = Worker(worker)
    sleep = ScriptedSleep(clock, [hand.take, lambda: hand.complete(result)])

    answer = blocking_put(service, sleep, producer)

    assert answer.status_code == status
    assert answer.json() == body
    assert answer.headers["X-Task-Id"] == hand.task["task_id"]


def test_a_blocking_put_answered_by_a_worker_in_another_thread(
    store: DynamoStore, callback_guard: CallbackGuard, serve, producer: Caller, worker: Caller
) -> None:
    service = QueueService(store, SystemClock(), instance_id="api-test", callback_guard=callback_guard)
    serve(service)  # the worker's API calls share the real clock
    done = threading.Event()

    def work() -> None:
        while not done.is_set():
            tasks = take(worker, ["test-queue:0"], 1).get("test-queue:0")
            if tasks:
                time.sleep(0.05)  # the worker's own time
                complete(
                    worker, tasks[0]["task_id"], {"status_code": 200, "body": {"text": "hi"}}, tasks[0]["lease_id"]
                )
                return
            time.sleep(0.02)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        started = time.monotonic()
        answer = blocking_put(service, None, producer, timeout=30)
        elapsed = time.monotonic() - started
    finally:
        done.set()
        thread.join()

    assert (answer.status_code, answer.json()) == (200, {"text": "hi"})
    assert elapsed < 5


def test_at_the_deadline_a_task_still_waiting_is_cancelled_and_the_put_answers_408(
    service: QueueService, clock: ManualClock, producer: Caller
) -> None:
    started = clock.now_ms()
    sleep = ScriptedSleep(clock)

    answer = blocking_put(service, sleep, producer, timeout=3)

    assert answer.status_code == 408
    assert answer.json()["code"] == 408 and "timeout" in answer.json()["message"]
    assert clock.now_ms() - started == 3_000  # at the deadline, not a poll later
    task = get(producer, answer.headers["X-Task-Id"]).body
    assert task["status"] == "cancelled"


def test_a_lease_that_ended_with_no_retry_left_answers_408_at_once(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    hand = Worker(worker)
    sleep = ScriptedSleep(clock, [lambda: hand.take(process_timeout=2)])  # then the worker goes silent
    started = clock.now_ms()

    answer = blocking_put(service, sleep, producer, timeout=60)

    assert answer.status_code == 408
    assert set(answer.json()) == {"code", "message", "timestamp"}
    assert clock.now_ms() - started < 3_000  # at the lease end, long before the 60 s deadline
    assert get(producer, hand.task["task_id"]).body["status"] == "timeout"


def test_a_lease_that_ended_with_a_retry_left_goes_on_waiting_for_the_next_worker(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    first, second = Worker(worker), Worker(worker)
    # The first worker's lease ends after 2 s; the task is given back at once, not a sweep later.
    steps = [lambda: first.take(process_timeout=2, process_max_retries=1)] + [lambda: None] * 30
    steps += [second.take, lambda: second.complete({"body": {"by": "second"}})]
    sleep = ScriptedSleep(clock, steps)

    answer = blocking_put(service, sleep, producer, timeout=60)

    assert (answer.status_code, answer.json()) == (200, {"by": "second"})
    assert second.task["attempts"] == 2


def test_a_cancelled_task_answers_409(
    service: QueueService, clock: ManualClock, producer: Caller, put_ids: list[str]
) -> None:
    def cancel_it() -> None:
        assert cancel(producer, put_ids[0]).status == 202

    answer = blocking_put(service, ScriptedSleep(clock, [cancel_it]), producer)

    assert answer.status_code == 409
    assert answer.json()["code"] == 409
    assert answer.headers["X-Task-Id"] == put_ids[0]


@pytest.fixture
def put_ids(monkeypatch: pytest.MonkeyPatch, service: QueueService) -> list[str]:
    """The ids of the tasks the service put, as they are put (before any answer goes out)."""
    ids: list[str] = []
    original = service.put

    def put(*args: Any, **kwargs: Any) -> str:
        ids.append(original(*args, **kwargs))
        return ids[-1]

    monkeypatch.setattr(service, "put", put)
    return ids


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"response_mode": "blocking", "level": 1}, "level"),
        ({"response_mode": "streaming", "level": 9}, "level"),
        ({"response_mode": "blocking", "timeout": 301}, "timeout"),
        ({"response_mode": "streaming", "timeout": 601}, "timeout"),
        ({"response_mode": "blocking", "timeout": 0}, "timeout"),
        ({"response_mode": "sync"}, "response_mode"),
    ],
)
def test_online_rules_are_400s_naming_the_field(
    service: QueueService, producer: Caller, put_ids: list[str], fields, named
) -> None:
    with online_client(service) as client:
        answer = client.post("/v1/queue/put", json=put_body(**fields), headers=context_header(producer))

    assert answer.status_code == 400
    assert answer.json()["message"].startswith(f"{named}:")
    assert put_ids == []


def test_without_the_authorizers_context_a_put_is_401(service: QueueService) -> None:
    with online_client(service) as client:
        answer = client.post("/v1/queue/put", json=put_body(response_mode="blocking"))

    assert answer.status_code == 401
    assert set(answer.json()) == {"code", "message", "timestamp"}


@pytest.mark.parametrize(
    ("body", "status"),
    [("{not json", 400), (put_body(queue="nowhere", response_mode="blocking"), 404)],
)
def test_bad_puts_get_the_spec_error_body(service: QueueService, producer: Caller, body, status) -> None:
    with online_client(service) as client:
        if isinstance(body, str):
            answer = client.post("/v1/queue/put", content=body, headers=context_header(producer))
        else:
            answer = client.post("/v1/queue/put", json=body, headers=context_header(producer))

    assert answer.status_code == status
    assert answer.json()["code"] == status


def test_the_readiness_check_needs_no_key(service: QueueService) -> None:
    with online_client(service) as client:
        answer = client.get("/health")

    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


def test_an_unknown_route_is_404_with_the_error_body(service: QueueService, producer: Caller) -> None:
    with online_client(service) as client:
        answer = client.get("/v1/nothing", headers=context_header(producer))

    assert answer.status_code == 404
    assert set(answer.json()) == {"code", "message", "timestamp"}


def test_a_body_that_is_not_json_is_415(service: QueueService, producer: Caller) -> None:
    with online_client(service) as client:
        answer = client.post(
            "/v1/queue/put",
            content="queue=test-queue",
            headers=context_header(producer) | {"Content-Type": "text/plain"},
        )

    assert answer.status_code == 415
    assert answer.json()["message"].startswith("Content-Type:")
