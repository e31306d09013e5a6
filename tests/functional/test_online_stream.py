"""Streaming puts and GET /v1/queue/{task_id}/stream (spec §4.2): the worker's events in order
as SSE, keep-alive comments, a last error frame when the task does not succeed, and a stream
resumed after `Last-Event-ID`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from apigw import Caller, call
from online import ScriptedSleep, context_header, online_client, parse_sse, put_body, worker_events
from steps import cancel, complete, register, take

from taskq.clock import ManualClock
from taskq.service import QueueService
from tests.faults import FaultPlan


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> str:
    register(admin, "test-queue")
    return "test-queue"


class StreamWorker:
    """A worker answering a streaming task through the API function's handler."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.task: dict[str, Any] = {}

    def take(self, **fields: Any) -> None:
        [self.task] = take(self.caller, ["test-queue:0"], 1, **fields)["test-queue:0"]

    def send(self, *events: dict[str, Any]) -> None:
        answer = call(
            "POST",
            f"/v1/queue/{self.task['task_id']}/events",
            {"events": list(events)},
            self.caller,
            {"X-Lease-Id": self.task["lease_id"]},
        )
        assert answer.status == 200, answer

    def complete(self, result: dict[str, Any]) -> None:
        assert complete(self.caller, self.task["task_id"], result, self.task["lease_id"]).status == 200


def streaming_put(service: QueueService, sleep: ScriptedSleep, caller: Caller, keep_alive: float = 15, **fields: Any):
    with online_client(service, sleep, keep_alive_seconds=keep_alive) as client:
        body = put_body(response_mode="streaming", **fields)
        return client.post("/v1/queue/put", json=body, headers=context_header(caller))


def resume(service: QueueService, sleep: ScriptedSleep, caller: Caller, task_id: str, last_event_id: str | None):
    headers = context_header(caller) | ({"Last-Event-ID": last_event_id} if last_event_id is not None else {})
    with online_client(service, sleep) as client:
        return client.get(f"/v1/queue/{task_id}/stream", headers=headers)


CHUNKS = [
    {"id": "c1", "data": "Hel"},
    {"id": "c2", "event": "delta", "data": {"text": "lo"}},
    {"data": "two\nlines"},
]


def test_the_workers_events_stream_in_order_and_the_stream_closes_after_success(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    hand = StreamWorker(worker)
    steps = [hand.take, lambda: hand.send(*CHUNKS[:2]), lambda: None, lambda: hand.send(CHUNKS[2])]
    steps += [lambda: hand.send({"data": "[DONE]"}), lambda: hand.complete({"status_code": 200})]

    answer = streaming_put(service, ScriptedSleep(clock, steps), producer)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["X-Task-Id"] == hand.task["task_id"]
    frames = parse_sse(answer.text)
    assert worker_events(frames) == [
        (1, "message", "Hel"),
        (2, "delta", '{"text":"lo"}'),
        (3, "message", "two\nlines"),
        (4, "message", "[DONE]"),
    ]
    assert [f for f in frames if "id" not in f] == []  # no error frame, no keep-alive


def test_events_sent_just_before_the_complete_are_not_lost(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    hand = StreamWorker(worker)

    def send_and_finish() -> None:  # between two polls: the stream sees the end and these events together
        hand.send({"data": "last words"})
        hand.complete({"status_code": 200})

    answer = streaming_put(service, ScriptedSleep(clock, [hand.take, send_and_finish]), producer)

    assert worker_events(parse_sse(answer.text)) == [(1, "message", "last words")]


def test_a_failed_task_ends_its_stream_with_an_error_frame_carrying_the_result(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    hand = StreamWorker(worker)
    result = {"status_code": 500, "request_id": "r-9", "body": {"error": "out of memory"}}
    steps = [hand.take, lambda: hand.send({"data": "partial"}), lambda: hand.complete(result)]

    frames = parse_sse(streaming_put(service, ScriptedSleep(clock, steps), producer).text)

    assert worker_events(frames) == [(1, "message", "partial")]
    assert frames[-1]["event"] == "error"
    error = json.loads(frames[-1]["data"])
    assert (error["code"], error["result"]) == (500, result)
    assert "failed" in error["message"]


def test_a_cancelled_task_ends_its_stream_with_a_409_error_frame(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    hand = StreamWorker(worker)
    steps = [hand.take, lambda: hand.send({"data": "a"}), lambda: cancel(producer, hand.task["task_id"])]

    frames = parse_sse(streaming_put(service, ScriptedSleep(clock, steps), producer).text)

    assert worker_events(frames) == [(1, "message", "a")]
    assert frames[-1]["event"] == "error"
    assert json.loads(frames[-1]["data"]) | {"message": ""} == {"code": 409, "message": "", "result": None}


def test_a_silent_stream_gets_keep_alives_then_a_408_error_frame_at_its_deadline(
    service: QueueService, clock: ManualClock, producer: Caller
) -> None:
    started = clock.now_ms()

    answer = streaming_put(service, ScriptedSleep(clock), producer, timeout=40)

    frames = parse_sse(answer.text)
    assert frames[:2] == [{"comment": "keep-alive"}, {"comment": "keep-alive"}]  # at 15 s and 30 s
    assert frames[2]["event"] == "error" and json.loads(frames[2]["data"])["code"] == 408
    assert len(frames) == 3
    assert clock.now_ms() - started == 40_000


def test_the_keep_alive_interval_is_the_one_configured(
    service: QueueService, clock: ManualClock, producer: Caller
) -> None:
    answer = streaming_put(service, ScriptedSleep(clock), producer, keep_alive=4, timeout=10)

    assert [f for f in parse_sse(answer.text) if "comment" in f] == [{"comment": "keep-alive"}] * 2


def finished_stream(service: QueueService, clock: ManualClock, producer: Caller, worker: Caller) -> str:
    """A streaming task with five events in two batches (1-3, 4-5), completed; its id."""
    hand = StreamWorker(worker)
    steps = [
        hand.take,
        lambda: hand.send({"id": "a", "data": "1"}, {"id": "b", "data": "2"}, {"id": "c", "data": "3"}),
        lambda: hand.send({"id": "d", "data": "4"}, {"id": "e", "data": "5"}),
        lambda: hand.complete({"status_code": 200}),
    ]
    answer = streaming_put(service, ScriptedSleep(clock, steps), producer)
    assert [seq for seq, _, _ in worker_events(parse_sse(answer.text))] == [1, 2, 3, 4, 5]
    return hand.task["task_id"]


@pytest.mark.parametrize(
    ("last_event_id", "expected"),
    [(None, [1, 2, 3, 4, 5]), ("0", [1, 2, 3, 4, 5]), ("2", [3, 4, 5]), ("3", [4, 5]), ("4", [5]), ("5", [])],
)
def test_a_stream_resumes_after_the_last_event_id_even_inside_a_stored_batch(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller, last_event_id, expected
) -> None:
    task_id = finished_stream(service, clock, producer, worker)

    answer = resume(service, ScriptedSleep(clock), producer, task_id, last_event_id)

    assert answer.status_code == 200
    assert answer.headers["X-Task-Id"] == task_id
    assert [seq for seq, _, _ in worker_events(parse_sse(answer.text))] == expected


def test_the_stream_route_is_404_for_a_task_the_caller_may_not_see(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    task_id = finished_stream(service, clock, producer, worker)
    stranger = Caller("ak-producer-0002", "producer")

    answer = resume(service, ScriptedSleep(clock), stranger, task_id, None)

    assert answer.status_code == 404
    assert answer.json()["code"] == 404


def test_the_stream_route_is_409_for_a_task_that_is_not_streaming(
    service: QueueService, clock: ManualClock, producer: Caller
) -> None:
    with online_client(service) as client:
        task_id = client.post("/v1/queue/put", json=put_body(), headers=context_header(producer)).json()["data"]

    answer = resume(service, ScriptedSleep(clock), producer, task_id, None)

    assert answer.status_code == 409
    assert "not streaming" in answer.json()["message"]


@pytest.mark.parametrize("last_event_id", ["abc", "-1", "1.5", "9" * 13])
def test_a_last_event_id_that_is_no_event_id_is_400(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller, last_event_id: str
) -> None:
    task_id = finished_stream(service, clock, producer, worker)

    answer = resume(service, ScriptedSleep(clock), producer, task_id, last_event_id)

    assert answer.status_code == 400
    assert answer.json()["message"].startswith("Last-Event-ID:")


@pytest.mark.parametrize("mode", ["blocking", "streaming"])
def test_a_wait_costs_at_most_ten_dynamodb_requests_a_second(
    service: QueueService, store, clock: ManualClock, producer: Caller, worker: Caller, mode: str
) -> None:
    """The budget of issue 11, through the surface: a worker takes the task and stays silent;
    every DynamoDB request of the next two minutes is the producer's wait."""
    hand = StreamWorker(worker)
    sleep = ScriptedSleep(clock, [hand.take])
    sent_at: list[int] = []
    plan = FaultPlan(before_request=lambda operation: sent_at.append(clock.now_ms()))
    started = clock.now_ms()
    with online_client(service, sleep) as client:
        plan.attach(store._db)
        try:
            client.post(
                "/v1/queue/put", json=put_body(response_mode=mode, timeout=130), headers=context_header(producer)
            )
        finally:
            plan.detach(store._db)

    seconds = [(t - started) // 1000 for t in sent_at]
    for first, last in [(1, 11), (11, 61), (61, 121)]:  # the fast phase, then slower ones
        rate = sum(first <= s < last for s in seconds) / (last - first)
        assert 0 < rate <= 10, (first, last, rate)


@pytest.mark.parametrize("task_id", ["\x87;\U000260e2Æx", "TASK-" + "x" * 2000, "a b"])
@pytest.mark.parametrize(("last_event_id", "status"), [(None, 404), ("not-an-event-id", 400)])
def test_the_stream_route_refuses_a_task_id_that_is_no_task_id_with_the_error_body(
    service: QueueService, clock: ManualClock, producer: Caller, task_id: str, last_event_id, status
) -> None:
    """Found by schemathesis: an id no HTTP header can carry was echoed in `X-Task-Id` (a 500)."""
    answer = resume(service, ScriptedSleep(clock), producer, task_id, last_event_id)

    assert answer.status_code == status
    assert answer.json()["code"] == status
    assert "X-Task-Id" not in answer.headers
