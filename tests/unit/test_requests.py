"""Request bodies (spec §1, §3.1-3.3): what is accepted, and that a rejection names the offending field."""

import pytest
from pydantic import BaseModel, ValidationError

from taskq.models import QueueLevel, Strategy
from taskq.requests import PutRequest, RegisterRequest, TakeRequest

TAKE = {"queues": ["test-queue:1"], "size": 1}
PUT = {"queue": "test-queue", "endpoint": "/v1/chat/completions", "data": {"prompt": "hi"}}
MISSING = object()


def body(base: dict, **changes) -> dict:
    """`base` with fields replaced, or removed when the value is MISSING."""
    merged = base | changes
    return {k: v for k, v in merged.items() if v is not MISSING}


def rejected_fields(model: type[BaseModel], data: dict) -> set[str]:
    with pytest.raises(ValidationError) as info:
        model(**data)
    return {str(error["loc"][0]) for error in info.value.errors()}


# --- TakeRequest -------------------------------------------------------------------------------


def test_take_defaults():
    request = TakeRequest(**TAKE)
    assert request.strategy is Strategy.FIFO
    assert request.process_max_retries == 0
    assert request.process_timeout is None
    assert request.endpoint is None
    assert request.min_age_seconds is None
    assert request.queue_levels == [QueueLevel("test-queue", 1)]


@pytest.mark.parametrize(
    "changes",
    [
        {"queues": ["a:0", "b-1:9", "c_2:5"]},
        {"queues": [f"q{i}:0" for i in range(20)]},
        {"queues": ["same:0", "same:1"]},  # one name, two levels: two different queues
        {"size": 100},
        {"strategy": "fifo"},
        {"strategy": "round_robin"},
        {"strategy": "active_passive"},
        {"strategy": "sequential"},
        {"process_timeout": 1},
        {"process_timeout": 43_200},
        {"process_max_retries": -1},
        {"process_max_retries": 100},
        {"min_age_seconds": 0},
        {"endpoint": "/v1/embeddings"},
    ],
)
def test_take_accepts(changes):
    request = TakeRequest(**body(TAKE, **changes))
    for field, value in changes.items():
        assert getattr(request, field) == value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("queues", MISSING),
        ("queues", []),
        ("queues", [f"q{i}:0" for i in range(21)]),
        ("queues", ["test-queue"]),
        ("queues", ["test-queue:10"]),
        ("queues", [":1"]),
        ("queues", ["bad name:1"]),
        ("queues", ["a:1", "a:1"]),
        ("queues", "a:1"),
        ("size", MISSING),
        ("size", 0),
        ("size", 101),
        ("strategy", "lifo"),
        ("strategy", "FIFO"),
        ("process_timeout", 0),
        ("process_timeout", 43_201),
        ("process_max_retries", -2),
        ("process_max_retries", 101),
        ("min_age_seconds", -1),
    ],
)
def test_take_rejects_and_names_the_field(field, value):
    assert rejected_fields(TakeRequest, body(TAKE, **{field: value})) == {field}


def test_take_error_message_quotes_the_bad_queue_name():
    with pytest.raises(ValidationError) as info:
        TakeRequest(**body(TAKE, queues=["fine:1", "broken:12"]))
    assert "broken:12" in str(info.value)


def test_take_rejects_the_same_queue_level_spelled_twice():
    assert rejected_fields(TakeRequest, body(TAKE, queues=["a:1", "a:01"])) == {"queues"}


def test_take_rejects_a_boolean_size():
    assert rejected_fields(TakeRequest, body(TAKE, size=True)) == {"size"}


# --- PutRequest --------------------------------------------------------------------------------


def test_put_defaults():
    request = PutRequest(**PUT)
    assert (request.level, request.response_mode, request.callback_url) == (0, "callback", "")
    assert request.timeout is None  # the service picks the default by response_mode
    assert request.trace_id == ""
    assert request.data == {"prompt": "hi"}


@pytest.mark.parametrize(
    "changes",
    [
        {"queue": "a"},
        {"queue": "A-z_09"},
        {"queue": "x" * 64},
        {"level": 0},
        {"level": 9},
        {"data": {}},
        {"data": {"nested": {"list": [1, 2, None]}}},
        {"response_mode": "blocking"},
        {"response_mode": "streaming"},
        {"callback_url": "http://example.com/cb"},
        {"callback_url": "https://127.0.0.1:8080/hook?x=1"},
        {"timeout": 1},
        {"timeout": 604_800},
        {"trace_id": "t" * 128},
    ],
)
def test_put_accepts(changes):
    request = PutRequest(**body(PUT, **changes))
    for field, value in changes.items():
        assert getattr(request, field) == value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("queue", MISSING),
        ("queue", ""),
        ("queue", "x" * 65),
        ("queue", "bad name"),
        ("queue", "test-queue:1"),
        ("queue", "a.b"),
        ("queue", "a/b"),
        ("queue", "caf\u00e9"),
        ("queue", "abc\n"),
        ("endpoint", MISSING),
        ("level", -1),
        ("level", 10),
        ("data", MISSING),
        ("data", None),
        ("data", [1, 2]),
        ("data", "text"),
        ("data", 42),
        ("response_mode", "batch"),
        ("response_mode", "sync"),
        ("callback_url", "ftp://example.com/cb"),
        ("callback_url", "file:///etc/passwd"),
        ("callback_url", "javascript:alert(1)"),
        ("callback_url", "http://"),
        ("callback_url", "example.com/cb"),
        ("timeout", 0),
        ("timeout", 604_801),
        ("trace_id", "t" * 129),
    ],
)
def test_put_rejects_and_names_the_field(field, value):
    assert rejected_fields(PutRequest, body(PUT, **{field: value})) == {field}


# --- RegisterRequest and unknown fields ---------------------------------------------------------


def test_register_accepts_a_queue_and_endpoint():
    request = RegisterRequest(queue="test-queue", endpoint="/v1/chat/completions")
    assert (request.queue, request.endpoint) == ("test-queue", "/v1/chat/completions")


@pytest.mark.parametrize(
    ("field", "value"),
    [("queue", MISSING), ("queue", "no spaces"), ("queue", "q:0"), ("endpoint", MISSING), ("endpoint", "")],
)
def test_register_rejects_and_names_the_field(field, value):
    data = body({"queue": "test-queue", "endpoint": "/v1/chat/completions"}, **{field: value})
    assert rejected_fields(RegisterRequest, data) == {field}


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (TakeRequest, TAKE),
        (PutRequest, PUT),
        (RegisterRequest, {"queue": "q", "endpoint": "/e"}),
    ],
)
def test_unknown_fields_are_ignored(model, data):
    request = model(**data, priority="high", ak="ak-spoofed")
    assert "priority" not in request.model_dump()
    assert not hasattr(request, "priority")
    assert request.model_dump() == model(**data).model_dump()
