"""The OpenAI-compatible front door (spec §4.5) in the online function: an OpenAI request put as a
level-0 task of the queue its `X-Taskq-Queue` header or its `model` names, answered blocking or
streaming by its `stream`, every error with OpenAI's `error` object (docs/design.md "The front door")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from apigw import Caller, call
from online import ScriptedSleep, context_header, online_client, parse_sse
from steps import cancel, complete, get, register, take

from taskq.clock import ManualClock
from taskq.service import QueueService

CHAT = "/v1/chat/completions"
CHAT_BODY = {"model": "test-queue", "messages": [{"role": "user", "content": "Hello"}]}
COMPLETION = {"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "message": {}}]}


@pytest.fixture(autouse=True)
def queues(admin: Caller) -> None:
    register(admin, "test-queue")  # endpoint /v1/chat/completions
    register(admin, "rerank", "/v1/rerank")


class Hand:
    """A worker acting through the API function's handler, one step at a time."""

    def __init__(self, caller: Caller, queue: str = "test-queue") -> None:
        self.caller, self.queue = caller, queue
        self.task: dict[str, Any] = {}

    def take(self) -> None:
        [self.task] = take(self.caller, [f"{self.queue}:0"], 1)[f"{self.queue}:0"]

    def send(self, *events: dict[str, Any]) -> None:
        path = f"/v1/queue/{self.task['task_id']}/events"
        answer = call("POST", path, {"events": list(events)}, self.caller, {"X-Lease-Id": self.task["lease_id"]})
        assert answer.status == 200, answer

    def complete(self, result: dict[str, Any]) -> None:
        assert complete(self.caller, self.task["task_id"], result, self.task["lease_id"]).status == 200


def front_door(
    service: QueueService,
    caller: Caller,
    body: Any,
    *,
    path: str = CHAT,
    sleep: ScriptedSleep | None = None,
    headers: dict[str, str] | None = None,
):
    with online_client(service, sleep) as client:
        sent = {"content": json.dumps(body)} if not isinstance(body, bytes) else {"content": body}
        all_headers = context_header(caller) | {"Content-Type": "application/json"} | (headers or {})
        return client.post(path, headers=all_headers, **sent)


def openai_error(answer) -> dict[str, Any]:
    """The answer's OpenAI error object, checked to be beside the spec's error body."""
    body = answer.json()
    assert (body["code"], body["message"]) == (answer.status_code, body["error"]["message"])
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


# --- blocking ------------------------------------------------------------------------------


def test_a_chat_completion_is_put_as_a_blocking_task_and_answered_with_the_workers_body(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    hand = Hand(worker)
    steps = [hand.take, lambda: hand.complete({"status_code": 200, "request_id": "r", "body": COMPLETION})]

    answer = front_door(service, producer, CHAT_BODY, sleep=ScriptedSleep(clock, steps))

    assert (answer.status_code, answer.json()) == (200, COMPLETION)
    assert answer.headers["X-Task-Id"] == hand.task["task_id"]
    task = hand.task
    assert (task["queue"], task["level"], task["endpoint"]) == ("test-queue", 0, CHAT)
    assert (task["response_mode"], task["data"]) == ("blocking", CHAT_BODY)
    assert "x-should-retry" not in answer.headers


@pytest.mark.parametrize("header", ["test-queue", "test-queue:0", " test-queue "])
def test_the_queue_header_names_the_queue_whatever_the_model(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller, header: str
) -> None:
    hand = Hand(worker)
    body = CHAT_BODY | {"model": "meta-llama/Llama-3-8B"}  # no queue could be named so
    steps = [hand.take, lambda: hand.complete({"body": COMPLETION})]

    answer = front_door(service, producer, body, sleep=ScriptedSleep(clock, steps), headers={"X-Taskq-Queue": header})

    assert answer.status_code == 200
    assert (hand.task["queue"], hand.task["data"]) == ("test-queue", body)


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/embeddings"])
def test_the_openai_paths_reach_any_queue_with_the_path_as_endpoint(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller, path: str
) -> None:
    hand = Hand(worker)
    steps = [hand.take, lambda: hand.complete({"body": {"object": "list"}})]

    answer = front_door(service, producer, CHAT_BODY, path=path, sleep=ScriptedSleep(clock, steps))

    assert (answer.status_code, answer.json()) == (200, {"object": "list"})
    assert hand.task["endpoint"] == path  # test-queue is registered for /v1/chat/completions


def test_any_other_path_reaches_the_queue_registered_with_it_as_endpoint(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    hand = Hand(worker, "rerank")
    steps = [hand.take, lambda: hand.complete({"body": {"results": [1, 0]}})]

    answer = front_door(service, producer, {"model": "rerank"}, path="/v1/rerank", sleep=ScriptedSleep(clock, steps))

    assert (answer.status_code, answer.json()) == (200, {"results": [1, 0]})
    assert (hand.task["endpoint"], hand.task["response_mode"]) == ("/v1/rerank", "blocking")


@pytest.mark.parametrize(
    ("result", "status", "body"),
    [
        ({"status_code": 500, "body": {"error": {"message": "CUDA out of memory", "type": "server_error"}}}, 500, None),
        ({"status_code": 503, "body": "overloaded"}, 503, "overloaded"),
        ({"status_code": 429, "body": {"error": {"message": "slow down"}}}, 429, None),
    ],
)
def test_a_worker_failure_is_answered_with_its_status_and_body_and_no_retry(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller, result, status, body
) -> None:
    hand = Hand(worker)

    answer = front_door(
        service, producer, CHAT_BODY, sleep=ScriptedSleep(clock, [hand.take, lambda: hand.complete(result)])
    )

    assert (answer.status_code, answer.json()) == (status, result["body"] if body is None else body)
    assert answer.headers["x-should-retry"] == "false"  # a retry would put the work again
    assert answer.headers["X-Task-Id"] == hand.task["task_id"]


def test_a_task_nobody_takes_in_time_is_a_408_openai_error_and_is_cancelled(
    service: QueueService, clock: ManualClock, producer: Caller
) -> None:
    answer = front_door(service, producer, CHAT_BODY, sleep=ScriptedSleep(clock))

    assert answer.status_code == 408
    error = openai_error(answer)
    assert (error["type"], error["code"]) == ("timeout_error", "task_timeout")
    assert answer.headers["x-should-retry"] == "false"
    assert get(producer, answer.headers["X-Task-Id"]).body["status"] == "cancelled"


def test_a_task_cancelled_while_its_producer_waits_is_a_409_openai_error(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    hand = Hand(worker)
    steps = [hand.take, lambda: cancel(producer, hand.task["task_id"])]

    answer = front_door(service, producer, CHAT_BODY, sleep=ScriptedSleep(clock, steps))

    assert answer.status_code == 409
    assert openai_error(answer)["code"] == "task_cancelled"
    assert answer.headers["x-should-retry"] == "false"


# --- errors before any task is put -------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "body", "headers", "param", "code"),
    [
        (Caller("ak-p", "producer"), CHAT_BODY | {"model": "no-such-queue"}, {}, "model", "model_not_found"),
        (Caller("ak-p", "producer"), CHAT_BODY | {"model": "gpt-4o/mini"}, {}, "model", "model_not_found"),
        (Caller("ak-p", "producer", ("other-*",)), CHAT_BODY, {}, "model", "model_not_found"),  # not the key's
        (Caller("ak-p", "producer"), CHAT_BODY, {"X-Taskq-Queue": "nope"}, "X-Taskq-Queue", "queue_not_found"),
    ],
)
def test_a_queue_that_is_unknown_or_not_the_keys_is_a_404_openai_error(
    service: QueueService, caller: Caller, body, headers, param: str, code: str
) -> None:
    answer = front_door(service, caller, body, headers=headers)

    assert answer.status_code == 404
    error = openai_error(answer)
    assert (error["type"], error["param"], error["code"]) == ("not_found_error", param, code)
    assert answer.headers["x-should-retry"] == "false"
    assert "X-Task-Id" not in answer.headers


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/rerank", CHAT_BODY),  # test-queue serves /v1/chat/completions, not /v1/rerank
        ("/v1/nothing", {"model": "rerank"}),
        # Any POST path comes here: one that names no queue is a mistyped route, not a bad body.
        ("/v1/queue/typo", {"queue": "test-queue"}),
        ("/v1/queue/typo", b"not json"),
        ("/v1/queue/typo", ["a"]),
    ],
)
def test_another_path_that_is_not_the_queues_endpoint_is_404(
    service: QueueService, producer: Caller, path, body
) -> None:
    answer = front_door(service, producer, body, path=path)

    assert answer.status_code == 404
    assert openai_error(answer)["message"].startswith(f"no route POST {path}")


@pytest.mark.parametrize(
    ("body", "headers", "names"),
    [
        ({"messages": []}, {}, "model:"),
        ([CHAT_BODY], {}, "body:"),
        (b"{not json", {}, "body:"),
        (CHAT_BODY | {"model": 7}, {}, "model:"),
        (CHAT_BODY | {"stream": "yes"}, {}, "stream:"),
        (CHAT_BODY, {"X-Taskq-Queue": "test-queue:1"}, "X-Taskq-Queue:"),
        (CHAT_BODY, {"X-Taskq-Queue": "a b"}, "X-Taskq-Queue:"),
    ],
)
def test_bad_input_is_a_400_openai_error_naming_the_field(
    service: QueueService, producer: Caller, body, headers, names: str
) -> None:
    answer = front_door(service, producer, body, headers=headers)

    assert answer.status_code == 400
    error = openai_error(answer)
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(names)


def test_a_worker_key_may_not_use_the_front_door_403(service: QueueService, worker: Caller) -> None:
    answer = front_door(service, worker, CHAT_BODY)

    assert answer.status_code == 403
    assert openai_error(answer)["type"] == "permission_error"


def test_no_authorizer_context_is_a_401_openai_error(service: QueueService) -> None:
    with online_client(service) as client:
        answer = client.post(CHAT, json=CHAT_BODY)

    assert answer.status_code == 401
    assert openai_error(answer)["type"] == "authentication_error"


def test_a_body_that_is_not_json_is_415_and_an_oversized_one_413(service: QueueService, producer: Caller) -> None:
    with online_client(service) as client:
        text = client.post(CHAT, content=b"hi", headers=context_header(producer) | {"Content-Type": "text/plain"})
    huge = front_door(service, producer, CHAT_BODY | {"prompt": "x" * 300_000})

    assert (text.status_code, openai_error(text)["type"]) == (415, "invalid_request_error")
    assert (huge.status_code, openai_error(huge)["type"]) == (413, "invalid_request_error")


def test_other_methods_on_an_unknown_path_are_404(service: QueueService, producer: Caller) -> None:
    with online_client(service) as client:
        answer = client.get("/v1/nothing", headers=context_header(producer))

    assert answer.status_code == 404
    assert set(answer.json()) == {"code", "message", "timestamp"}


# --- streaming -----------------------------------------------------------------------------------


def chunk(text: str) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}


def test_a_stream_passes_the_workers_chunks_as_openai_sends_them_and_ends_at_done(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    hand = Hand(worker)
    steps = [hand.take, lambda: hand.send({"id": "1", "data": chunk("Hel")}, {"id": "2", "data": chunk("lo")})]
    steps += [lambda: hand.send({"id": "3", "data": "[DONE]"})]  # no complete: [DONE] ends the stream

    answer = front_door(service, producer, CHAT_BODY | {"stream": True}, sleep=ScriptedSleep(clock, steps))

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["X-Task-Id"] == hand.task["task_id"]
    assert hand.task["response_mode"] == "streaming"
    # No `event:` line for message events: an SDK of the 1.x line would not read them as chunks.
    assert answer.text == (
        f"id: 1\ndata: {json.dumps(chunk('Hel'), separators=(',', ':'))}\n\n"
        f"id: 2\ndata: {json.dumps(chunk('lo'), separators=(',', ':'))}\n\n"
        "id: 3\ndata: [DONE]\n\n"
    )
    assert get(producer, hand.task["task_id"]).body["status"] == "running"


def test_a_stream_that_succeeds_without_done_gets_one_and_other_event_names_are_kept(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    hand = Hand(worker)
    steps = [hand.take, lambda: hand.send({"event": "response.created", "data": {"a": 1}}, {"data": chunk("x")})]
    steps += [lambda: hand.complete({"status_code": 200})]

    answer = front_door(service, producer, CHAT_BODY | {"stream": True}, sleep=ScriptedSleep(clock, steps))

    frames = parse_sse(answer.text)
    assert [(f.get("event"), f["data"]) for f in frames] == [
        ("response.created", '{"a":1}'),
        (None, json.dumps(chunk("x"), separators=(",", ":"))),
        (None, "[DONE]"),
    ]


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            {"status_code": 500, "body": {"error": {"message": "CUDA out of memory", "code": "oom"}}},
            {"message": "CUDA out of memory", "type": "server_error", "param": None, "code": "oom"},
        ),
        ({"status_code": 502}, {"type": "server_error", "param": None, "code": "task_failed"}),
    ],
)
def test_a_failed_stream_ends_with_a_frame_whose_json_has_an_error_key(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller, result, expected
) -> None:
    hand = Hand(worker)
    steps = [hand.take, lambda: hand.send({"data": chunk("par")}), lambda: hand.complete(result)]

    frames = parse_sse(
        front_door(service, producer, CHAT_BODY | {"stream": True}, sleep=ScriptedSleep(clock, steps)).text
    )

    assert [f.get("event") for f in frames] == [None, "error"]
    error = json.loads(frames[-1]["data"])["error"]
    assert error | expected == error
    assert error["message"]


def test_a_stream_nobody_takes_ends_with_a_timeout_error_frame(
    service: QueueService, clock: ManualClock, producer: Caller
) -> None:
    answer = front_door(service, producer, CHAT_BODY | {"stream": True}, sleep=ScriptedSleep(clock))

    frames = [f for f in parse_sse(answer.text) if "comment" not in f]
    assert [f["event"] for f in frames] == ["error"]
    assert json.loads(frames[0]["data"])["error"]["code"] == "task_timeout"
