"""Issue 11 point 6: the `openai` Python package — a client nobody here wrote — against `taskq
serve` through the front door (spec §4.5), with a worker answering over HTTP in a thread as any
worker would: take, events, complete. Blocking and streamed chat completions, and the errors the
SDK raises for an unknown model, a worker's 500 and a bad key."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest
from local_server_process import ServerProcess, http

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "Say hello"}]


def new_key(server: ServerProcess, role: str) -> str:
    body = {"name": f"frontdoor-{role}", "role": role}
    status, created, _ = http("POST", f"{server.base_url}/v1/keys", body, server.admin_key)
    assert status == 201, created
    return created["apikey"]


@pytest.fixture(scope="module")
def keys(local_server: ServerProcess) -> dict[str, str]:
    return {role: new_key(local_server, role) for role in ("producer", "worker")}


@pytest.fixture
def queue(local_server: ServerProcess) -> str:
    name = f"fd-{uuid.uuid4().hex[:8]}"
    answer = http(
        "POST", f"{local_server.base_url}/v1/queue/register", {"queue": name, "endpoint": CHAT}, local_server.admin_key
    )
    assert answer[0] == 200, answer
    return name


@pytest.fixture
def client(local_server: ServerProcess, keys: dict[str, str]) -> openai.OpenAI:
    # The SDK's defaults (2 retries included): the front door must work with them as they are.
    return openai.OpenAI(base_url=f"{local_server.base_url}/v1", api_key=keys["producer"], timeout=60)


class Worker:
    """A worker over HTTP: takes the queue's online tasks and answers each with `answer(self, task)`."""

    def __init__(self, server: ServerProcess, key: str, queue: str, answer: Callable[[Worker, dict], None]) -> None:
        self.base, self.key, self.queue, self.answer = server.base_url, key, queue, answer
        self.tasks: list[dict[str, Any]] = []
        self.stopped = threading.Event()
        self.failure: BaseException | None = None

    def call(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        status, answer, _ = http("POST", f"{self.base}{path}", body, self.key, headers)
        assert status == 200, (path, status, answer)
        return answer

    def run(self) -> None:
        try:
            while not self.stopped.is_set():
                taken = self.call("/v1/queue/take", {"queues": [f"{self.queue}:0"], "size": 1})
                for task in taken.get(f"{self.queue}:0", []):
                    self.tasks.append(task)
                    self.answer(self, task)
                time.sleep(0.02)
        except BaseException as e:  # reported by the test, not lost in the thread
            self.failure = e

    def events(self, task: dict[str, Any], *events: dict[str, Any]) -> None:
        headers = {"X-Lease-Id": task["lease_id"]}
        self.call(f"/v1/queue/{task['task_id']}/events", {"events": list(events)}, headers)

    def complete(self, task: dict[str, Any], result: dict[str, Any]) -> None:
        self.call(f"/v1/queue/{task['task_id']}/complete", result, {"X-Lease-Id": task["lease_id"]})


@contextmanager
def working(server: ServerProcess, keys: dict[str, str], queue: str, answer) -> Iterator[Worker]:
    worker = Worker(server, keys["worker"], queue, answer)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stopped.set()
        thread.join(10)
    assert worker.failure is None, worker.failure


def completion(task: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{task['task_id']}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": task["data"]["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }


def chunk(task: dict[str, Any], text: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {} if text is None else {"content": text}
    return {
        "id": f"chatcmpl-{task['task_id']}",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": task["data"]["model"],
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def test_a_blocking_chat_completion_is_answered_by_a_worker(local_server, keys, queue, client) -> None:
    def answer(worker: Worker, task: dict[str, Any]) -> None:
        worker.complete(task, {"status_code": 200, "request_id": task["task_id"], "body": completion(task, "Hello!")})

    with working(local_server, keys, queue, answer) as worker:
        reply = client.chat.completions.create(model=queue, messages=MESSAGES)

    assert reply.choices[0].message.content == "Hello!"
    [task] = worker.tasks
    assert reply.id == f"chatcmpl-{task['task_id']}"
    assert (task["endpoint"], task["level"], task["response_mode"]) == (CHAT, 0, "blocking")
    assert task["data"] == {"model": queue, "messages": MESSAGES}


def test_a_streamed_chat_completion_arrives_chunk_by_chunk(local_server, keys, queue, client) -> None:
    words = ["Hel", "lo", ", ", "world"]

    def answer(worker: Worker, task: dict[str, Any]) -> None:
        for n, word in enumerate(words):
            worker.events(task, {"id": f"chunk-{n}", "data": chunk(task, word)})
        worker.events(task, {"id": "last", "data": chunk(task, None, "stop")}, {"id": "done", "data": "[DONE]"})
        worker.complete(task, {"status_code": 200})

    with working(local_server, keys, queue, answer) as worker:
        stream = client.chat.completions.create(model=queue, messages=MESSAGES, stream=True)
        chunks = list(stream)

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello, world"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.id for c in chunks} == {f"chatcmpl-{worker.tasks[0]['task_id']}"}
    assert worker.tasks[0]["response_mode"] == "streaming"


def test_an_unknown_model_is_the_sdks_not_found_error(client) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model=f"no-such-{uuid.uuid4().hex[:6]}", messages=MESSAGES)

    assert raised.value.code == "model_not_found"
    assert raised.value.param == "model"


def test_a_workers_500_is_the_sdks_internal_server_error_and_not_retried(local_server, keys, queue, client) -> None:
    def answer(worker: Worker, task: dict[str, Any]) -> None:
        body = {"error": {"message": "the model crashed", "type": "server_error", "code": "crash"}}
        worker.complete(task, {"status_code": 500, "body": body})

    with working(local_server, keys, queue, answer) as worker:
        with pytest.raises(openai.InternalServerError) as raised:
            client.chat.completions.create(model=queue, messages=MESSAGES)
        time.sleep(0.3)  # a retry's task, if the SDK sent one, would be taken by now

    assert raised.value.status_code == 500
    assert (raised.value.message.endswith("the model crashed"), raised.value.code) == (True, "crash")
    assert len(worker.tasks) == 1  # x-should-retry: false — the SDK's 2 retries would put 2 more


def test_a_stream_whose_task_fails_raises_in_the_sdk_after_the_chunks_before(local_server, keys, queue, client) -> None:
    def answer(worker: Worker, task: dict[str, Any]) -> None:
        worker.events(task, {"data": chunk(task, "Hel")})
        worker.complete(task, {"status_code": 500, "body": {"error": {"message": "GPU lost"}}})

    received = []
    with working(local_server, keys, queue, answer):
        stream = client.chat.completions.create(model=queue, messages=MESSAGES, stream=True)
        with pytest.raises(openai.APIError) as raised:
            for part in stream:
                received.append(part.choices[0].delta.content)

    assert received == ["Hel"]
    assert raised.value.message == "GPU lost"


def test_a_bad_key_is_the_sdks_authentication_error(local_server, queue) -> None:
    client = openai.OpenAI(base_url=f"{local_server.base_url}/v1", api_key="not-a-key", max_retries=0)

    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model=queue, messages=MESSAGES)
