"""Online tasks through the library (spec §4.2, §4.3): client.call over a blocking put,
client.stream over a streaming put fed by ctx.emit, resumed after a dropped connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from taskq_client import Client, Event, Result, Task, TaskContext, TaskError, Worker


@pytest.fixture
def online_worker(admin: Client, queue: str) -> Iterator[Worker]:
    """A worker on the queue's online level: emits `data.parts` events (pausing `data.pause`
    seconds halfway), then answers by `data.answer`."""
    worker = Worker(admin, [f"{queue}:0"], concurrency=4, idle_poll=0.1, backoff=0)

    @worker.handler
    def handle(task: Task, ctx: TaskContext) -> Any:
        parts = task.data.get("parts", 0)
        for n in range(parts):
            if n == parts // 2:
                time.sleep(task.data.get("pause", 0))
            ctx.emit({"delta": f"part {n}"}, event="chunk")
        if task.data.get("answer") == "refuse":
            raise TaskError(422, "cannot answer that", retry=False, body={"error": "refused"})
        return Result(201, {"echo": task.data.get("prompt")})

    worker.start()
    yield worker
    worker.stop(grace=5)


def test_call_answers_with_the_workers_result(admin: Client, queue: str, online_worker: Worker) -> None:
    assert admin.call(queue, {"prompt": "hi"}, timeout=30) == Result(201, {"echo": "hi"})
    assert admin.call(queue, {"answer": "refuse"}, timeout=30) == Result(422, {"error": "refused"})


def test_call_that_nobody_answers_times_out(admin: Client, queue: str) -> None:
    with pytest.raises(TimeoutError):
        admin.call(queue, {"prompt": "anyone?"}, timeout=1)


def test_events_a_handler_emits_reach_the_stream_in_order(admin: Client, queue: str, online_worker: Worker) -> None:
    events = list(admin.stream(queue, {"parts": 6, "pause": 0.3}, timeout=30))
    assert [e.data for e in events] == [{"delta": f"part {n}"} for n in range(6)]
    assert {e.event for e in events} == {"chunk"}
    assert [int(e.id) for e in events] == sorted(int(e.id) for e in events) and len({e.id for e in events}) == 6


class DropStreamAfter(httpx.BaseTransport):
    """The first streaming put's connection breaks after `events` complete events."""

    def __init__(self, events: int) -> None:
        self.inner, self.events, self.dropped, self.requests = httpx.HTTPTransport(), events, False, []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path, request.headers.get("last-event-id")))
        response = self.inner.handle_request(request)
        if self.dropped or request.url.path != "/v1/queue/put":
            return response
        self.dropped = True
        return httpx.Response(response.status_code, headers=response.headers, stream=_Stream(self._cut(response)))

    def _cut(self, response: httpx.Response) -> Iterator[bytes]:
        seen = b""
        for chunk in response.stream:
            seen += chunk
            if seen.count(b"\n\n") >= self.events:
                end = _nth_boundary(seen, self.events)
                yield chunk[: len(chunk) - (len(seen) - end)]
                response.close()
                raise httpx.ReadError("connection reset by peer")
            yield chunk


class _Stream(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks


def _nth_boundary(data: bytes, n: int) -> int:
    end = -2
    for _ in range(n):
        end = data.index(b"\n\n", end + 2)
    return end + 2


def test_a_dropped_stream_resumes_after_the_last_event_seen(server, queue: str, online_worker: Worker) -> None:
    transport = DropStreamAfter(events=2)
    with Client(server.base_url, server.admin_key, transport=transport, backoff=0.01) as client:
        events = list(client.stream(queue, {"parts": 6, "pause": 1.0}, timeout=30))
    assert [e.data["delta"] for e in events] == [f"part {n}" for n in range(6)], "none lost, none twice"
    resumed = [r for r in transport.requests if r[1].endswith("/stream")]
    assert len(resumed) == 1 and resumed[0][0] == "GET" and resumed[0][2] == events[1].id, transport.requests


def test_a_resent_batch_of_events_is_stored_once(admin: Client, queue: str) -> None:
    received: list[Event] = []
    consumer = threading.Thread(target=lambda: received.extend(admin.stream(queue, {}, timeout=30)))
    consumer.start()
    tasks: list[Task] = []
    deadline = time.monotonic() + 10
    while not tasks and time.monotonic() < deadline:
        tasks = admin.take([f"{queue}:0"], process_timeout=30)
    [task] = tasks
    batch = [Event(id="1.1", data="a"), Event(id="1.2", data="b")]
    assert admin.emit(task.task_id, task.lease_id, batch) == 2
    assert admin.emit(task.task_id, task.lease_id, batch) == 0, "a resent batch (lost answer) adds nothing"
    admin.complete(task.task_id, {"status_code": 200}, task.lease_id)
    consumer.join(10)
    assert [e.data for e in received] == ["a", "b"]
