"""Request bodies, parsed and validated by pydantic. Unknown fields are ignored (spec §1).

Integers are strict: JSON `true` or `"5"` is a 400, not a quiet 1 or 5.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from .errors import BadRequest
from .http_errors import describe_validation_error
from .models import MAX_SHARDS, QUEUE_NAME, QueueLevel, Strategy

Model = TypeVar("Model", bound=BaseModel)

# Python turns at most this many digits of text into an int by default (a guard against
# quadratic-time conversion); json raises a bare ValueError beyond it, which became a 500.
MAX_INT_DIGITS = 4300


class _LongInteger:
    """Stands where the body holds an integer of more than MAX_INT_DIGITS digits."""


def parse_json_body(text: str) -> Any:
    """The body's JSON; an integer of more than MAX_INT_DIGITS digits anywhere in it is a 400
    naming where it stands (`level`, `data.n.1`)."""
    found: list[_LongInteger] = []

    def parse_int(digits: str) -> int | _LongInteger:
        if len(digits.lstrip("-")) <= MAX_INT_DIGITS:
            return int(digits)
        found.append(_LongInteger())
        return found[-1]

    value = json.loads(text, parse_int=parse_int)
    if found:
        raise BadRequest(f"{_path_to(value, found[0]) or 'body'}: an integer of more than {MAX_INT_DIGITS} digits")
    return value


def parse_json(text: str | bytes) -> Any:
    """A request body's JSON, any problem a 400 naming the body."""
    try:
        return parse_json_body(text)
    except RecursionError as e:
        raise BadRequest("body: JSON nested too deeply") from e
    except ValueError as e:  # not JSON, or not UTF-8
        raise BadRequest("body: is not valid JSON") from e


def parse_body(model: type[Model], text: str | bytes) -> Model:
    """A request body as `model`, every problem a 400 naming the field. For the online function;
    the API function's resolver validates the same models with the same messages."""
    return validate_body(model, parse_json(text))


def validate_body(model: type[Model], value: Any) -> Model:
    """Parsed JSON as `model`; a validation error is a 400 naming every offending field."""
    try:
        return model.model_validate(value)
    except ValidationError as e:
        raise BadRequest("; ".join(describe_validation_error(error) for error in e.errors())) from e


def _path_to(value: Any, target: object) -> str | None:
    """The dotted path (as validation errors name fields) to `target` within `value`."""
    if value is target:
        return ""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        path = _path_to(child, target)
        if path is not None:
            return f"{key}.{path}" if path else str(key)
    return None


class RequestBody(BaseModel):
    """A model's validator is built when it first validates, not at import: a cold start builds
    only the models its request uses (docs/performance.md, "Cold start")."""

    model_config = ConfigDict(defer_build=True)


QueueName = Annotated[str, Field(pattern=QUEUE_NAME.pattern, description="^[A-Za-z0-9_-]{1,64}$")]
Endpoint = Annotated[str, Field(min_length=1, max_length=256)]


class RegisterRequest(RequestBody):
    queue: QueueName
    endpoint: Endpoint


class PutRequest(RequestBody):
    queue: QueueName
    endpoint: Endpoint
    level: StrictInt = Field(0, ge=0, le=9)
    data: dict[str, Any]
    response_mode: Literal["callback", "blocking", "streaming"] = "callback"
    callback_url: str = Field("", max_length=2048)
    timeout: StrictInt | None = Field(None, ge=1, le=604_800, description="seconds until expire_time")
    trace_id: str = Field("", max_length=128)

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http or https URL")
        return url


class PutBatchItem(PutRequest):
    """One item of put-batch: a put body and its own key (the single put's `Idempotency-Key`)."""

    idempotency_key: str | None = Field(None, min_length=1, max_length=128)

    def put_request(self) -> PutRequest:
        """The item as the single put's body, so a key's body hash is the same on both routes."""
        return PutRequest.model_construct(**self.model_dump(exclude={"idempotency_key"}))


MAX_BATCH_ITEMS = 100


def _items_like(model: type[BaseModel]) -> Any:
    """The OpenAPI schema of a batch's items: `model`'s, though each item is validated on its
    own (a bad one is that item's error, not the request's). Built only when the document is."""

    def extra(schema: dict[str, Any]) -> None:
        schema["items"] = model.model_json_schema()

    return extra


class PutBatchRequest(RequestBody):
    """`POST /v1/queue/put-batch` (spec §3.13). Items are checked one by one (a bad one is that
    item's error), so here they are any JSON value."""

    tasks: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH_ITEMS,
        description="put bodies, 1..100",
        json_schema_extra=_items_like(PutBatchItem),
    )


class CompleteBatchItem(RequestBody):
    task_id: str = Field(min_length=1, max_length=128)
    lease_id: str | None = Field(None, min_length=1, max_length=128, description="the take's lease; fenced when given")
    result: dict[str, Any]


class CompleteBatchRequest(RequestBody):
    """`POST /v1/queue/complete-batch` (spec §3.13); items are checked one by one."""

    results: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH_ITEMS,
        description="{task_id, lease_id, result}, 1..100",
        json_schema_extra=_items_like(CompleteBatchItem),
    )


# Printable ASCII without spaces: an event name goes on an SSE `event:` line as it is.
EventName = Annotated[str, Field(pattern=r"^[!-~]{1,128}$", description="printable ASCII, no spaces, 1..128")]


class EventIn(BaseModel):
    # 255 characters: as a sort key ("I#" + id) it stays within DynamoDB's 1,024 bytes even at 4 bytes a character.
    id: str | None = Field(None, min_length=1, max_length=255, description="dedup key within the task")
    event: EventName = "message"
    data: Any = Field(description="a string (sent as it is) or any JSON value (sent as compact JSON)")


class EventsRequest(RequestBody):
    events: list[EventIn] = Field(min_length=1, max_length=100)


class TakeRequest(RequestBody):
    queues: list[str] = Field(min_length=1, max_length=20, description="full queue names, name:level")
    strategy: Strategy = Strategy.FIFO
    endpoint: Endpoint | None = None
    size: StrictInt = Field(ge=1, le=100)
    process_timeout: StrictInt | None = Field(None, ge=1, le=43_200, description="lease in seconds")
    process_max_retries: StrictInt = Field(0, ge=-1, le=100, description="0 none, -1 unlimited")
    min_age_seconds: StrictInt | None = Field(None, ge=0, le=604_800)

    @field_validator("queues")
    @classmethod
    def _full_names(cls, queues: list[str]) -> list[str]:
        for text in queues:
            QueueLevel.parse(text)
        if len(set(queues)) != len(queues):
            raise ValueError("must not repeat a queue")
        return queues

    @property
    def queue_levels(self) -> list[QueueLevel]:
        return [QueueLevel.parse(q) for q in self.queues]


class HeartbeatRequest(RequestBody):
    process_timeout: StrictInt | None = Field(None, ge=1, le=43_200, description="seconds from now; default the take's")


class RetryRequest(RequestBody):
    delay_seconds: StrictInt = Field(0, ge=0, le=43_200)
    reason: str = Field("", max_length=1024)


QueuePattern = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-*?\[\]!]{1,64}$", description="a glob over queue names")]


class KeyCreateRequest(RequestBody):
    name: str = Field(min_length=1, max_length=128)
    role: Literal["producer", "worker", "admin"]
    queues: list[QueuePattern] = Field(default_factory=lambda: ["*"], min_length=1, max_length=50)


class BatchCreateRequest(RequestBody):
    """`POST /v1/batches` (spec §6), as the openai client sends it."""

    input_file_id: str = Field(min_length=1, max_length=64)
    endpoint: Endpoint
    completion_window: str = Field("24h", pattern=r"^[0-9]{1,3}h$", description="1h..168h")
    metadata: dict[str, str] | None = None

    @field_validator("completion_window")
    @classmethod
    def _window(cls, window: str) -> str:
        if not 1 <= int(window[:-1]) <= 168:
            raise ValueError("must be between 1h and 168h")
        return window


class UploadCreateRequest(RequestBody):
    """`POST /v1/uploads` (spec §6), as the openai client sends it (`expires_after` is ignored:
    an upload expires after an hour, its file after FileRetentionDays)."""

    bytes: StrictInt = Field(description="the file's size, 1..200 MB")
    filename: str = Field(min_length=1, max_length=256)
    mime_type: str = Field(min_length=1, max_length=128)
    purpose: str = Field(min_length=1, max_length=64)


class UploadCompleteRequest(RequestBody):
    """`POST /v1/uploads/{id}/complete`: the parts in the file's order, and optionally the MD5
    (hex) of the whole content, checked before the file exists."""

    part_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=10_000)
    md5: str | None = Field(None, max_length=64)


class ShardsRequest(RequestBody):
    """`POST /v1/console/{queue_level}/shards`: a queue-level's new ready shard count."""

    shards: StrictInt = Field(ge=1, le=MAX_SHARDS, description="ready shards, only ever raised")
