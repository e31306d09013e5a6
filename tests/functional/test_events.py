"""The sample events in events/ (used with `sam local invoke ApiFunction -e events/<name>.json`)
are real API Gateway REST proxy events, and each gives its expected answer through the handler."""

from __future__ import annotations

import copy
import json
import re

import pytest
from apigw import EVENTS_DIR, load_sample, send, with_path

from taskq.clock import ManualClock

SAMPLES = [
    "register",
    "metadata",
    "put",
    "take",
    "complete",
    "cancel",
    "get",
    "heartbeat",
    "retry",
    "worker_events",
    "keys_create",
    "keys_list",
    "keys_revoke",
    "health",
    "openapi",
]
# Samples of the routes that need no key: they carry no authorizer context.
PUBLIC = {"health", "openapi"}

# What each sample answers on a fresh deployment once its prerequisites were sent. The samples
# address a fixed task id (and key id) that does not exist there, hence the 404s.
EXPECTED_STATUS = {
    "register": 200,
    "metadata": 200,
    "put": 200,
    "take": 200,
    "complete": 404,
    "cancel": 404,
    "get": 404,
    "heartbeat": 404,
    "retry": 404,
    "worker_events": 404,
    "keys_create": 201,
    "keys_list": 200,
    "keys_revoke": 404,
    "health": 200,
    "openapi": 200,
}
PREREQUISITES = {"metadata": ["register"], "put": ["register"], "take": ["register", "put"]}


def test_there_is_one_sample_per_route() -> None:
    assert sorted(p.stem for p in EVENTS_DIR.glob("*.json")) == sorted(SAMPLES)


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_has_the_rest_proxy_shape(name: str) -> None:
    event = load_sample(name)
    context = event["requestContext"]

    assert event["resource"] == "/{proxy+}"
    assert context["resourcePath"] == "/{proxy+}"
    assert event["pathParameters"] == {"proxy": event["path"].lstrip("/")}
    assert context["httpMethod"] == event["httpMethod"]
    assert context["stage"] == "prod"
    assert context["path"] == "/prod" + event["path"]
    assert context["requestId"]
    assert context["identity"]["sourceIp"]
    assert event["isBase64Encoded"] is False
    assert {k: [v] for k, v in event["headers"].items()} == event["multiValueHeaders"]
    assert "queryStringParameters" in event
    assert "multiValueQueryStringParameters" in event
    assert "stageVariables" in event
    if event["body"] is not None:
        assert isinstance(json.loads(event["body"]), dict)
        assert event["headers"]["Content-Type"] == "application/json"
    if name in PUBLIC:
        assert "authorizer" not in context
    else:
        authorizer = context["authorizer"]
        # Lambda authorizer contexts carry strings only: the patterns are JSON text.
        assert isinstance(authorizer["queues"], str)
        assert isinstance(json.loads(authorizer["queues"]), list)
        assert authorizer["ak"].startswith("ak-")
        assert authorizer["role"] in {"admin", "producer", "worker"}


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_answers_its_expected_status(name: str) -> None:
    for prerequisite in PREREQUISITES.get(name, []):
        assert send(load_sample(prerequisite)).status == 200

    answer = send(load_sample(name))

    assert answer.status == EXPECTED_STATUS[name], answer
    if answer.status >= 400:
        assert answer.body["code"] == answer.status


def test_samples_drive_a_whole_task_life() -> None:
    """register, put, take as sampled; complete and get retargeted to the task taken."""
    assert send(load_sample("register")).body == "test-queue"
    put = send(load_sample("put"))
    task_id = put.body["data"]

    taken = send(load_sample("take"))
    assert [t["task_id"] for t in taken.body["test-queue:0"]] == [task_id]
    assert taken.body["test-queue:0"][0]["data"] == json.loads(load_sample("put")["body"])["data"]

    completed = send(with_path(load_sample("complete"), f"/v1/queue/{task_id}/complete"))
    assert (completed.status, completed.body) == (200, task_id)

    got = send(with_path(load_sample("get"), f"/v1/queue/{task_id}"))
    assert got.status == 200
    assert got.body["status"] == "succeeded"
    assert got.body["result"] == json.loads(load_sample("complete")["body"])

    cancelled = send(with_path(load_sample("cancel"), f"/v1/queue/{task_id}/cancel"))
    assert cancelled.status == 409  # a succeeded task cannot be cancelled


def test_put_sample_repeated_is_idempotent() -> None:
    """The put sample carries an Idempotency-Key: sending it twice creates one task."""
    send(load_sample("register"))

    first, second = send(load_sample("put")), send(load_sample("put"))

    assert first.body["data"] == second.body["data"]
    take = load_sample("take")
    take["body"] = json.dumps(json.loads(take["body"]) | {"size": 10})
    assert len(send(take).body["test-queue:0"]) == 1


def test_cancel_sample_cancels_a_waiting_task() -> None:
    send(load_sample("register"))
    task_id = send(load_sample("put")).body["data"]

    answer = send(with_path(load_sample("cancel"), f"/v1/queue/{task_id}/cancel"))

    assert (answer.status, answer.body) == (202, task_id)
    assert send(load_sample("take")).body == {}


def with_lease(event: dict, lease_id: str) -> dict:
    """A copy of a lease sample carrying a real lease in X-Lease-Id."""
    event = copy.deepcopy(event)
    assert event["headers"]["X-Lease-Id"].startswith("LEASE-")
    event["headers"]["X-Lease-Id"] = lease_id
    event["multiValueHeaders"]["X-Lease-Id"] = [lease_id]
    return event


def test_lease_samples_heartbeat_and_retry_a_taken_task(clock: ManualClock) -> None:
    send(load_sample("register"))
    task_id = send(load_sample("put")).body["data"]
    [taken] = send(load_sample("take")).body["test-queue:0"]  # no process_max_retries: no redelivery
    clock.advance(10)

    beat = send(with_lease(with_path(load_sample("heartbeat"), f"/v1/queue/{task_id}/heartbeat"), taken["lease_id"]))
    assert (beat.status, beat.body) == (200, {"task_id": task_id, "lease_expire_time": clock.now_ms() + 120_000})

    retried = send(with_lease(with_path(load_sample("retry"), f"/v1/queue/{task_id}/retry"), taken["lease_id"]))
    assert (retried.status, retried.body) == (200, task_id)
    got = send(with_path(load_sample("get"), f"/v1/queue/{task_id}")).body
    reason = json.loads(load_sample("retry")["body"])["reason"]
    assert (got["status"], got["result"]["reason"]) == ("failed", reason)


def test_key_samples_create_list_and_revoke_a_key() -> None:
    created = send(load_sample("keys_create")).body
    assert (created["role"], created["queues"]) == ("worker", ["test-queue"])
    assert [k["ak"] for k in send(load_sample("keys_list")).body] == [created["ak"]]

    revoked = send(with_path(load_sample("keys_revoke"), f"/v1/keys/{created['ak']}"))

    assert revoked.status == 204
    assert send(load_sample("keys_list")).body == []


def test_openapi_sample_documents_every_sampled_route() -> None:
    paths = send(load_sample("openapi")).body["paths"]
    for name in SAMPLES:
        sample = load_sample(name)
        route = re.sub(r"TASK-[0-9a-f-]+", "{task_id}", sample["path"])
        route = re.sub(r"/keys/ak-[0-9a-f]+", "/keys/{ak}", route).replace("test-queue/", "{queue}/")
        if name != "openapi":  # the document leaves itself out
            assert sample["httpMethod"].lower() in paths[route], name
