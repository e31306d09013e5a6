"""Errors (spec §1, §3.3, §3.12): the status, and the body {"code", "message", "timestamp"} whose
message names what to fix."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from apigw import Answer, Caller, build_event, call, send
from steps import CHAT, CHAT_DATA, register

ADMIN = Caller("ak-admin-0001", "admin")
PRODUCER = Caller("ak-producer-0001", "producer")
WORKER = Caller("ak-worker-0001", "worker")
Q = "test-queue:0"
TASK = "TASK-1750000000000-0000000000000000"


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, "test-queue")


def take_body(**fields) -> dict:
    return {"queues": [Q], "size": 1} | fields


def take_as(caller: Caller | None, body) -> Answer:
    return call("POST", "/v1/queue/take", body, caller)


SCENARIOS: dict[str, tuple[int, Callable[[], Answer]]] = {
    "missing size": (400, lambda: take_as(WORKER, {"queues": [Q]})),
    "no key": (401, lambda: take_as(None, take_body())),
    "producer takes": (403, lambda: take_as(PRODUCER, take_body())),
    "unknown queue": (404, lambda: take_as(WORKER, take_body(queues=["nowhere:0"]))),
    "unknown task": (404, lambda: call("GET", f"/v1/queue/{TASK}", None, ADMIN)),
    "unknown route": (404, lambda: call("GET", "/v2/nothing/here", None, ADMIN)),
    "register conflict": (
        409,
        lambda: call("POST", "/v1/queue/register", {"queue": "test-queue", "endpoint": "/other"}, ADMIN),
    ),
    "data too large": (
        413,
        lambda: call(
            "POST", "/v1/queue/put", {"queue": "test-queue", "endpoint": CHAT, "data": {"x": "y" * 300_000}}, PRODUCER
        ),
    ),
    "online put sent to the API function": (
        501,
        lambda: call(
            "POST",
            "/v1/queue/put",
            {"queue": "test-queue", "endpoint": CHAT, "data": CHAT_DATA, "response_mode": "blocking"},
            PRODUCER,
        ),
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_error_has_the_spec_body(scenario: str) -> None:
    status, send = SCENARIOS[scenario]

    answer = send()

    assert answer.status == status
    assert set(answer.body) == {"code", "message", "timestamp"}
    assert answer.body["code"] == status
    assert isinstance(answer.body["message"], str)
    assert answer.body["message"]
    assert isinstance(answer.body["timestamp"], int)
    assert answer.body["timestamp"] > 10**12  # epoch milliseconds
    assert answer.headers["Content-Type"].startswith("application/json")


BAD_TAKES = [
    ({"queues": [Q]}, "size"),
    (take_body(size=0), "size"),
    (take_body(size=101), "size"),
    (take_body(size="ten"), "size"),
    (take_body(strategy="lifo"), "strategy"),
    (take_body(strategy="FIFO"), "strategy"),
    ({"size": 1}, "queues"),
    (take_body(queues=[]), "queues"),
    (take_body(queues=[f"q{i}:0" for i in range(21)]), "queues"),
    (take_body(queues=[Q, Q]), "queues"),
    (take_body(queues=["test-queue"]), "queues"),
    (take_body(queues=["test-queue:10"]), "queues"),
    (take_body(queues=["test-queue:-1"]), "queues"),
    (take_body(queues=["bad name:0"]), "queues"),
    (take_body(process_timeout=0), "process_timeout"),
    (take_body(process_timeout=43_201), "process_timeout"),
    (take_body(process_max_retries=-2), "process_max_retries"),
    (take_body(process_max_retries=101), "process_max_retries"),
    (take_body(min_age_seconds=-1), "min_age_seconds"),
    (take_body(endpoint=""), "endpoint"),
]


def test_take_rejects_bad_fields_naming_them() -> None:
    """One test for all cases (moto's tables are set up once); every miss is reported."""
    misses = []
    for body, named in BAD_TAKES:
        answer = take_as(WORKER, body)
        if not (answer.status == 400 and answer.body["code"] == 400 and named in answer.body["message"]):
            misses.append((body, named, answer))

    assert misses == []


def test_every_bad_field_is_named(worker: Caller) -> None:
    answer = take_as(worker, {"queues": [Q], "strategy": "lifo"})

    assert answer.status == 400
    assert "size" in answer.body["message"]
    assert "strategy" in answer.body["message"]


def test_bad_json_is_a_400(worker: Caller) -> None:
    answer = take_as(worker, '{"queues": ["test-queue:0"], "size": 1')

    assert answer.status == 400
    assert answer.body["code"] == 400


def test_the_limits_themselves_are_accepted(worker: Caller, admin: Caller) -> None:
    for i in range(19):
        register(admin, f"q{i}")
    twenty = [Q] + [f"q{i}:9" for i in range(19)]

    body = take_body(queues=twenty, size=100, process_timeout=43_200, process_max_retries=100, min_age_seconds=0)
    assert take_as(worker, body).status == 200
    assert take_as(worker, take_body(process_timeout=1, process_max_retries=-1)).status == 200


def test_an_unregistered_queue_is_not_found_naming_it(worker: Caller) -> None:
    answer = take_as(worker, take_body(queues=[Q, "nowhere:1"]))

    assert answer.status == 404
    assert "nowhere" in answer.body["message"]


@pytest.mark.parametrize("registered", [True, False])
def test_a_queue_outside_the_keys_patterns_is_forbidden_registered_or_not(admin: Caller, registered: bool) -> None:
    if registered:
        register(admin, "qwen-max")
    deepseek = Caller("ak-ds", "worker", ("deepseek-*", "test-*"))

    answer = take_as(deepseek, take_body(queues=[Q, "qwen-max:0"]))

    assert answer.status == 403
    assert "qwen-max" in answer.body["message"]


def test_permission_is_checked_before_existence() -> None:
    deepseek = Caller("ak-ds", "worker", ("deepseek-*",))

    answer = take_as(deepseek, take_body(queues=["deepseek-unregistered:0", "qwen-max:0"]))

    assert answer.status == 403


ROUTES = [
    ("POST", "/v1/queue/register", {"queue": "q", "endpoint": CHAT}),
    ("GET", "/v1/queue/test-queue/metadata", None),
    ("POST", "/v1/queue/put", {"queue": "test-queue", "endpoint": CHAT, "data": CHAT_DATA}),
    ("POST", "/v1/queue/take", take_body()),
    ("POST", f"/v1/queue/{TASK}/complete", {"status_code": 200}),
    ("POST", f"/v1/queue/{TASK}/cancel", None),
    ("GET", f"/v1/queue/{TASK}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_v1_route_needs_a_key(method: str, path: str, body) -> None:
    answer = call(method, path, body, None)

    assert answer.status == 401
    assert answer.body["code"] == 401


@pytest.mark.parametrize(
    "context",
    [
        {"ak": "ak-x", "role": "superuser", "queues": '["*"]'},
        {"role": "worker", "queues": '["*"]'},
        {"ak": "ak-x", "queues": '["*"]'},
        {"ak": "ak-x", "role": "worker", "queues": "not json"},
        {"principalId": "ak-x"},
    ],
    ids=["unknown role", "no ak", "no role", "queues not JSON", "principal only"],
)
def test_an_unusable_authorizer_context_is_unauthorized(context: dict) -> None:
    event = build_event("POST", "/v1/queue/take", take_body(), WORKER)
    event["requestContext"]["authorizer"] = context

    answer = send(event)

    assert answer.status == 401
    assert answer.body["code"] == 401


def test_a_keyless_request_is_unauthorized_whatever_its_body() -> None:
    assert take_as(None, {"queues": "nonsense"}).status == 401


@pytest.mark.parametrize("role", ["producer", "worker"])
def test_register_needs_an_admin(role: str) -> None:
    answer = call("POST", "/v1/queue/register", {"queue": "q2", "endpoint": CHAT}, Caller(f"ak-{role}", role))

    assert answer.status == 403
    assert answer.body["code"] == 403


def test_a_worker_may_not_put(worker: Caller) -> None:
    answer = call("POST", "/v1/queue/put", {"queue": "test-queue", "endpoint": CHAT, "data": {}}, worker)

    assert answer.status == 403


def test_health_needs_no_key() -> None:
    answer = call("GET", "/health", None, None)

    assert (answer.status, answer.body) == (200, {"status": "ok"})


def test_the_openapi_document_lists_the_routes() -> None:
    answer = call("GET", "/openapi.json", None, None)

    assert answer.status == 200
    assert {"/v1/queue/put", "/v1/queue/take", "/v1/queue/register"} <= set(answer.body["paths"])


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/v1/queues"), ("POST", "/v1/queue/a/b/c")])
def test_an_unknown_route_is_404_with_the_error_body(method: str, path: str) -> None:
    answer = call(method, path, None, ADMIN)

    assert answer.status == 404
    assert answer.body["code"] == 404
    assert isinstance(answer.body["timestamp"], int)


@pytest.mark.parametrize(("method", "path"), [("DELETE", "/v1/queue/put"), ("GET", "/v1/queue/take/x/complete")])
def test_a_wrong_method_is_404_or_405_with_the_error_body(method: str, path: str) -> None:
    answer = call(method, path, None, ADMIN)

    assert answer.status in (404, 405)
    assert answer.body["code"] == answer.status
