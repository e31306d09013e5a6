"""Bad input is always a 4xx with the error body, never a 500 (spec §1)."""

from __future__ import annotations

import pytest
from apigw import Caller, call
from steps import CHAT, put, register, take

ADMIN = Caller("ak-admin-0001", "admin")
Q = "test-queue:0"
TASK = "TASK-1750000000000-0000000000000000"
POST_ROUTES = ["/v1/queue/register", "/v1/queue/put", "/v1/queue/take", f"/v1/queue/{TASK}/complete"]
RAW_BODIES = ["[]", "[1, 2]", '"text"', "null", "42", "true", "{", "{}", "", "   ", '{"a":}', "{'single': 1}"]


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, "test-queue")


def is_client_error(answer) -> bool:
    body = answer.body if isinstance(answer.body, dict) else {}
    return 400 <= answer.status < 500 and body.get("code") == answer.status and bool(body.get("message"))


def assert_client_error(answer) -> None:
    assert is_client_error(answer), answer


def assert_all_client_errors(path: str, bodies: list) -> None:
    """Sends every body (one test, so moto's tables are set up once) and reports every miss."""
    misses = [(body, answer) for body in bodies if not is_client_error(answer := call("POST", path, body, ADMIN))]
    assert misses == []


@pytest.mark.parametrize("path", POST_ROUTES)
def test_malformed_bodies_are_client_errors(path: str) -> None:
    assert_all_client_errors(path, RAW_BODIES)


PUT_WRONG_TYPES = [
    {"queue": 1},
    {"queue": None},
    {"queue": ["test-queue"]},
    {"endpoint": 5},
    {"endpoint": {"path": CHAT}},
    {"data": 3.5},
    {"level": "0.5"},
    {"level": 1.5},
    {"level": None},
    {"timeout": "soon"},
    {"timeout": 10**30},
    {"callback_url": 5},
    {"trace_id": {"id": 1}},
    {"response_mode": None},
]


def test_wrong_types_on_put_are_client_errors() -> None:
    body = {"queue": "test-queue", "endpoint": CHAT, "data": {}}

    assert_all_client_errors("/v1/queue/put", [body | fields for fields in PUT_WRONG_TYPES])


TAKE_WRONG_TYPES = [
    {"queues": "test-queue:0"},
    {"queues": [1]},
    {"queues": [None]},
    {"queues": [["test-queue:0"]]},
    {"queues": {"test-queue:0": 1}},
    {"queues": [":0"]},
    {"queues": ["test-queue:"]},
    {"queues": ["test-queue:0:1"]},
    {"size": None},
    {"size": [1]},
    {"size": 1.5},
    {"size": 10**30},
    {"strategy": 3},
    {"strategy": ["fifo"]},
    {"endpoint": []},
    {"process_timeout": "long"},
    {"process_max_retries": "many"},
    {"min_age_seconds": {"s": 1}},
]


def test_wrong_types_on_take_are_client_errors() -> None:
    assert_all_client_errors("/v1/queue/take", [{"queues": [Q], "size": 1} | fields for fields in TAKE_WRONG_TYPES])


def test_wrong_types_on_register_and_complete_are_client_errors() -> None:
    register_bodies = [{"queue": 5, "endpoint": CHAT}, {"queue": "q", "endpoint": None}, {"queue": {}, "endpoint": []}]
    assert_all_client_errors("/v1/queue/register", register_bodies)
    complete_bodies = [{"status_code": [200]}, {"status_code": {"v": 200}}, {"status_code": "OK"}]
    assert_all_client_errors(f"/v1/queue/{TASK}/complete", complete_bodies)


def test_a_level_in_non_ascii_digits_is_rejected(producer: Caller, worker: Caller) -> None:
    put(producer, "test-queue", level=3)

    answer = call("POST", "/v1/queue/take", {"queues": ["test-queue:\u0663"], "size": 1}, worker)

    assert answer.status == 400
    assert "queues" in answer.body["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/queue/%00",
        "/v1/queue/not-a-task-id",
        "/v1/queue/TASK-",
        "/v1/queue/" + "x" * 300,
        "/v1/queue/../../etc/passwd",
    ],
)
def test_odd_task_ids_are_not_found(path: str) -> None:
    answer = call("GET", path, None, ADMIN)

    assert answer.status == 404
    assert answer.body["code"] == 404


def test_an_odd_queue_in_the_metadata_path_is_a_client_error() -> None:
    assert_client_error(call("GET", "/v1/queue/no%20such%20queue!/metadata", None, ADMIN))


def test_a_form_encoded_body_is_a_client_error() -> None:
    """What `curl -d` sends without `-H Content-Type`."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    assert_client_error(call("POST", "/v1/queue/take", '{"queues":["test-queue:0"],"size":1}', ADMIN, headers))


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/xml",
        "multipart/form-data",
        "application/x-www-form-urlencoded",
    ],
)
def test_an_unsupported_content_type_is_a_client_error(content_type: str) -> None:
    headers = {"Content-Type": content_type}

    answer = call("POST", "/v1/queue/take", '{"queues":["test-queue:0"],"size":1}', ADMIN, headers)
    assert_client_error(answer)
    assert (answer.status, answer.body["message"]) == (415, "Content-Type: must be application/json")


@pytest.mark.parametrize("route", ["put", "complete"])
def test_a_lone_surrogate_in_a_payload_is_a_client_error_or_accepted(route: str, producer, worker) -> None:
    if route == "put":
        body = '{"queue": "test-queue", "endpoint": "/v1/chat/completions", "data": {"text": "\\ud800"}}'
        answer = call("POST", "/v1/queue/put", body, producer)
    else:
        put(producer, "test-queue")
        (task,) = take(worker, [Q], 1)[Q]
        answer = call("POST", f"/v1/queue/{task['task_id']}/complete", '{"body": "\\ud800"}', worker)

    assert answer.status < 500, answer


def test_a_deeply_nested_body_is_a_client_error() -> None:
    nested = "[" * 100_000 + "]" * 100_000
    body = '{"queue": "test-queue", "endpoint": "/v1/chat/completions", "data": {"x": ' + nested + "}}"

    assert_client_error(call("POST", "/v1/queue/put", body, ADMIN))


HUGE = "9" * 4301  # one digit more than Python turns into an int from text by default


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/queue/put", '{"queue": "test-queue", "endpoint": "/c", "data": {}, "level": <huge>}', "level"),
        ("/v1/queue/put", '{"queue": "test-queue", "endpoint": "/c", "data": {}, "timeout": -<huge>}', "timeout"),
        ("/v1/queue/put", '{"queue": "test-queue", "endpoint": "/c", "data": {"n": [1, <huge>]}}', "data.n.1"),
        ("/v1/queue/take", '{"queues": ["test-queue:0"], "size": <huge>}', "size"),
        (f"/v1/queue/{TASK}/complete", '{"status_code": <huge>}', "status_code"),
    ],
)
def test_an_integer_of_more_than_4300_digits_is_a_400_naming_its_field(path: str, body: str, field: str) -> None:
    answer = call("POST", path, body.replace("<huge>", HUGE), ADMIN)

    assert_client_error(answer)
    assert answer.status == 400 and answer.body["message"].startswith(f"{field}: "), answer


def test_a_status_code_of_more_than_4300_digits_as_text_is_a_400_naming_it(producer: Caller, worker: Caller) -> None:
    put(producer, "test-queue")
    (task,) = take(worker, [Q], 1)[Q]

    answer = call("POST", f"/v1/queue/{task['task_id']}/complete", {"status_code": HUGE}, worker)

    assert answer.status == 400 and answer.body["message"].startswith("status_code: "), answer
    assert call("GET", f"/v1/queue/{task['task_id']}", None, worker).body["status"] == "running"
