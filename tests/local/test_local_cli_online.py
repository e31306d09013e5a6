"""`taskq put --mode blocking|streaming` against a running local server, a worker answering over
HTTP from a thread: the worker's answer printed, and a stream's events printed as they come."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from local_server_process import ServerProcess, http, server_environment
from test_local_cli import taskq

from taskq_local.cli import build_parser, request_for, sse_events

ENDPOINT = "/v1/chat/completions"


@pytest.fixture
def queue(local_server: ServerProcess) -> str:
    name = f"cli-online-{uuid.uuid4().hex[:8]}"
    assert taskq(local_server, "register", name, ENDPOINT).returncode == 0
    return name


class Worker:
    """A worker over HTTP: takes the queue's next task, sends events, completes it."""

    def __init__(self, server: ServerProcess, queue: str) -> None:
        self.server, self.queue = server, queue

    def call(self, path: str, body: Any, lease: str | None = None) -> Any:
        headers = {"X-Lease-Id": lease} if lease else {}
        status, answer, _ = http("POST", self.server.base_url + path, body, self.server.admin_key, headers)
        assert status == 200, (path, status, answer)
        return answer

    def take(self, timeout: float = 30) -> dict[str, Any]:
        """The next task, waiting for the put to land."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while not deadline.is_set():
                taken = self.call("/v1/queue/take", {"queues": [f"{self.queue}:0"], "size": 1, "process_timeout": 60})
                if taken:
                    return taken[f"{self.queue}:0"][0]
                deadline.wait(0.05)
        finally:
            timer.cancel()
        raise AssertionError(f"nothing to take from {self.queue} within {timeout} s")

    def events(self, task: dict[str, Any], *events: dict[str, Any]) -> None:
        self.call(f"/v1/queue/{task['task_id']}/events", {"events": list(events)}, task["lease_id"])

    def complete(self, task: dict[str, Any], result: dict[str, Any]) -> None:
        self.call(f"/v1/queue/{task['task_id']}/complete", result, task["lease_id"])


def answering(worker: Worker, result: dict[str, Any]) -> threading.Thread:
    def work() -> None:
        worker.complete(worker.take(), result)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def put_args(queue: str, mode: str) -> list[str]:
    return ["put", queue, "--endpoint", ENDPOINT, "--data", '{"messages": []}', "--mode", mode]


@pytest.fixture
def streaming_put(local_server: ServerProcess, queue: str) -> Iterator[subprocess.Popen]:
    env = server_environment(TASKQ_API_KEY=local_server.admin_key)
    command = [sys.executable, "-m", "taskq_local.cli", *put_args(queue, "streaming"), "--url", local_server.base_url]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield process
    process.kill()
    process.communicate()


def test_a_blocking_put_prints_the_workers_answer(local_server: ServerProcess, queue: str):
    worker = answering(Worker(local_server, queue), {"status_code": 200, "body": {"answer": 42}})
    done = taskq(local_server, *put_args(queue, "blocking"))
    worker.join(30)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"answer": 42}
    assert done.stderr.startswith("X-Task-Id: TASK-")


def test_a_blocking_put_answered_non_2xx_prints_the_body_to_stderr_and_exits_1(local_server: ServerProcess, queue: str):
    worker = answering(Worker(local_server, queue), {"status_code": 503, "body": {"error": "overloaded"}})
    done = taskq(local_server, *put_args(queue, "blocking"))
    worker.join(30)

    assert (done.returncode, done.stdout) == (1, "")
    assert json.loads(done.stderr) == {"error": "overloaded"}


def test_a_streaming_put_prints_each_event_as_it_arrives(
    local_server: ServerProcess, queue: str, streaming_put: subprocess.Popen
):
    worker = Worker(local_server, queue)
    task = worker.take()
    worker.events(task, {"id": "a", "event": "token", "data": "Hel"})

    # The first event is printed while the task still runs (nothing else has been sent yet)
    first = streaming_put.stdout.readline()
    assert json.loads(first) == {"id": "1", "event": "token", "data": "Hel"}

    worker.events(task, {"id": "b", "event": "token", "data": "lo\nthere"}, {"data": {"done": True}})
    worker.complete(task, {"status_code": 200})
    rest, errors = streaming_put.communicate(timeout=30)
    assert streaming_put.returncode == 0, errors
    assert [json.loads(line) for line in rest.splitlines()] == [
        {"id": "2", "event": "token", "data": "lo\nthere"},
        {"id": "3", "event": "message", "data": '{"done":true}'},
    ]
    assert errors == f"X-Task-Id: {task['task_id']}\n"


def test_a_stream_that_ends_in_error_prints_the_error_event_and_exits_1(
    local_server: ServerProcess, queue: str, streaming_put: subprocess.Popen
):
    worker = Worker(local_server, queue)
    task = worker.take()
    worker.complete(task, {"status_code": 500, "body": {"error": "boom"}})
    out, _ = streaming_put.communicate(timeout=30)

    assert streaming_put.returncode == 1
    [error] = [json.loads(line) for line in out.splitlines()]
    assert error["event"] == "error" and "id" not in error
    assert json.loads(error["data"])["code"] == 500


def test_an_online_put_refused_at_once_exits_1(local_server: ServerProcess, queue: str):
    done = taskq(local_server, *put_args(queue, "blocking"), "--level", "1")
    assert (done.returncode, done.stdout) == (1, "")
    assert json.loads(done.stderr)["code"] == 400  # online modes are level 0 only


def test_mode_sets_the_response_mode():
    parse = build_parser().parse_args
    _, _, body, _ = request_for(parse(["put", "q", "--endpoint", "/e", "--data", "{}", "--mode", "streaming"]))
    assert body["response_mode"] == "streaming"
    _, _, body, _ = request_for(parse(["put", "q", "--endpoint", "/e", "--data", "{}"]))
    assert "response_mode" not in body


def test_sse_events_joins_data_lines_and_skips_comments():
    stream = [b": keep-alive\n", b"\n", b"id: 7\n", b"event: token\n", b"data: a\n", b"data: b\n", b"\n"]
    stream += [b"event: error\n", b'data: {"code": 408}\n', b"\n"]
    assert list(sse_events(stream)) == [
        {"id": "7", "event": "token", "data": "a\nb"},
        {"event": "error", "data": '{"code": 408}'},
    ]
