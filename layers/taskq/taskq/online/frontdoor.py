"""The OpenAI-compatible front door (spec §4.5), the rules that need no HTTP: which queue a
request names, the put it becomes, and how its answers and errors look to an OpenAI SDK
(docs/design.md "The front door").

An OpenAI SDK raises by HTTP status (404 NotFoundError, 5xx InternalServerError, ...) and reads
the error from the body's `error` object; in a stream it raises at a frame whose JSON has an
`error` key and stops at `data: [DONE]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import StrictBool, StrictStr

from ..errors import BadRequest, NotFound
from ..http_errors import error_body
from ..models import QUEUE_NAME, QueueLevel, WorkerEvent
from ..requests import PutRequest, RequestBody, parse_json, validate_body
from . import sse
from .watch import Ending

# The OpenAI routes the front door always serves; any other path only as a queue's endpoint.
OPENAI_PATHS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings"})
QUEUE_HEADER = "X-Taskq-Queue"
DONE = "[DONE]"
# An answer that tells the SDK not to send the request again: a retry is a new task, put and
# waited for again; a worker's failure is the queue's to retry (take's process_max_retries).
NO_RETRY = {"x-should-retry": "false"}

_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    429: "rate_limit_error",
}
# The `code` of the error object for a wait the service ended (OpenAI's codes are strings).
_ENDING_CODES = {404: "task_gone", 408: "task_timeout", 409: "task_cancelled"}


class UnknownQueue(NotFound):
    """The header or the model names no registered queue the key may use: one answer for both,
    as OpenAI's for a model one has no access to, so a key learns nothing of other queues."""

    def __init__(self, name: str, named_by: str) -> None:
        super().__init__(f"{named_by}: {name!r} names no queue this key may use")
        self.param = named_by
        self.code = "model_not_found" if named_by == "model" else "queue_not_found"


class NoRoute(NotFound):
    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"no route POST {path}: {detail}")


class OpenAIFields(RequestBody):
    """The fields of an OpenAI request body the front door reads; the whole body is the task's data."""

    model: StrictStr | None = None
    stream: StrictBool | None = None


@dataclass(frozen=True)
class FrontDoorRequest:
    queue: str
    named_by: str  # QUEUE_HEADER or "model"
    body: dict[str, Any]
    streaming: bool


def parse_request(path: str, raw: bytes, queue_header: str | None) -> FrontDoorRequest:
    """The request's queue and mode, 400 naming the field for a bad body or header. On a path
    other than OpenAI's, a request that names no queue at all is a 404: any POST path no other
    route claims comes here, and a mistyped route must not be told its `model` is missing."""
    try:
        return _parse(raw, queue_header)
    except BadRequest:
        if path in OPENAI_PATHS or _names_a_queue(raw, queue_header):
            raise
        raise NoRoute(path, "no queue named by the X-Taskq-Queue header or the body's model") from None


def _names_a_queue(raw: bytes, queue_header: str | None) -> bool:
    if queue_header is not None and queue_header.strip():
        return True
    try:
        body = parse_json(raw)
    except BadRequest:
        return False
    return isinstance(body, dict) and isinstance(body.get("model"), str)


def _parse(raw: bytes, queue_header: str | None) -> FrontDoorRequest:
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise BadRequest("body: must be a JSON object (an OpenAI request)")
    fields = validate_body(OpenAIFields, body)
    queue, named_by = named_queue(queue_header, fields.model)
    return FrontDoorRequest(queue, named_by, body, streaming=bool(fields.stream))


def named_queue(queue_header: str | None, model: str | None) -> tuple[str, str]:
    """(queue name, what named it): the header when given (`name` or `name:0`), else the model."""
    if queue_header is not None and queue_header.strip():
        text = queue_header.strip()
        if ":" in text:
            try:
                level = QueueLevel.parse(text)
            except ValueError as e:
                raise BadRequest(f"{QUEUE_HEADER}: {e}") from e
            if level.level != 0:
                raise BadRequest(f"{QUEUE_HEADER}: the front door puts online tasks, level 0 only, not {level.level}")
            return level.name, QUEUE_HEADER
        if not QUEUE_NAME.fullmatch(text):
            raise BadRequest(f"{QUEUE_HEADER}: {text[:80]!r} is not a queue name ({QUEUE_NAME.pattern})")
        return text, QUEUE_HEADER
    if model is None:
        raise BadRequest(f"model: required, naming the queue, unless the {QUEUE_HEADER} header names it")
    if not QUEUE_NAME.fullmatch(model):
        raise UnknownQueue(model, "model")
    return model, "model"


def check_endpoint(path: str, queue: str, registered_endpoint: str) -> None:
    """The OpenAI paths go to any queue (a queue may serve more than its main endpoint, spec
    §3.1); any other path only to a queue registered with it as its endpoint."""
    if path not in OPENAI_PATHS and path != registered_endpoint:
        raise NoRoute(path, f"queue {queue!r} serves {registered_endpoint}")


def put_request(path: str, request: FrontDoorRequest) -> PutRequest:
    """The level-0 put the request becomes: endpoint = its path, data = its body."""
    mode = "streaming" if request.streaming else "blocking"
    fields = {"queue": request.queue, "endpoint": path, "level": 0, "data": request.body, "response_mode": mode}
    return validate_body(PutRequest, fields)


# --- answers ------------------------------------------------------------------------------


def error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return _ERROR_TYPES.get(status, "invalid_request_error")


def openai_error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The spec's error body (§1) with OpenAI's `error` object beside it, which the SDKs read."""
    error = {"message": message, "type": error_type(status), "param": param, "code": code}
    return error_body(status, message) | {"error": error}


def error_of(status: int, message: str, error: Exception | None = None) -> dict[str, Any]:
    """The body for an error the service raised on a front-door request."""
    if isinstance(error, UnknownQueue):
        return openai_error(status, message, param=error.param, code=error.code)
    return openai_error(status, message)


def ending_error(error: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's error object for a wait that did not succeed (`Ending.error`): the worker's own
    `error` object when its result's body has one, else one saying how the task ended."""
    status, result = error["code"], error.get("result")
    body = result.get("body") if isinstance(result, dict) else None
    own = {"message": error["message"], "type": error_type(status), "param": None}
    own["code"] = _ENDING_CODES.get(status, "task_failed")
    worker = body.get("error") if isinstance(body, dict) else None
    return own | worker if isinstance(worker, dict) else own


def blocking_answer(ending: Ending) -> Any:
    """A blocking request's answer body: the worker's as it is (workers answer OpenAI-shaped
    bodies), the service's own endings (408, 409) as OpenAI errors."""
    if ending.from_worker or ending.error is None:
        return ending.body
    return error_body(ending.status, ending.error["message"]) | {"error": ending_error(ending.error)}


class OpenAIFormat:
    """The front door's stream (sse.StreamFormat): chunks as OpenAI sends them — a worker's
    `message` events without an `event:` line (an SDK of the 1.x line reads a named event as
    {"data", "event"}, not as a chunk), other names kept; the stream ends at the worker's
    `data: [DONE]`, or with one when the task succeeded without it; a failure is a frame whose
    JSON has an `error` key, which the SDK raises."""

    def event(self, event: WorkerEvent) -> str:
        return sse.frame(None if event.event == "message" else event.event, event.data, event.seq)

    def ends_stream(self, event: WorkerEvent) -> bool:
        return isinstance(event.data, str) and event.data.strip() == DONE

    def error(self, error: dict[str, Any]) -> str:
        return sse.frame("error", {"error": ending_error(error)})

    def success(self) -> str:
        return sse.frame(None, DONE)


OPENAI = OpenAIFormat()
