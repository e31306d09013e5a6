"""POST /v1/queue/register and GET /v1/queue/{queue}/metadata (spec §3.1)."""

from __future__ import annotations

import pytest
from apigw import Caller, call
from steps import CHAT

from taskq.clock import ManualClock
from taskq.config import TableNames
from taskq.service import QueueService
from taskq.store import DynamoStore


def register(caller: Caller | None, queue: str = "test-queue", endpoint: str = CHAT):
    return call("POST", "/v1/queue/register", {"queue": queue, "endpoint": endpoint}, caller)


def metadata(caller: Caller, queue: str = "test-queue"):
    return call("GET", f"/v1/queue/{queue}/metadata", None, caller)


def test_admin_registers_a_queue_and_gets_its_name(admin: Caller) -> None:
    answer = register(admin)

    assert (answer.status, answer.body) == (200, "test-queue")
    assert answer.headers["Content-Type"].startswith("application/json")


def test_metadata_answers_the_registered_endpoint(admin: Caller, worker: Caller, producer: Caller) -> None:
    register(admin)

    for caller in (admin, worker, producer):
        answer = metadata(caller)
        assert (answer.status, answer.body) == (200, {"queue": "test-queue", "endpoint": CHAT})


def test_registering_again_with_the_same_endpoint_is_a_no_op(admin: Caller) -> None:
    register(admin)

    answer = register(admin)

    assert (answer.status, answer.body) == (200, "test-queue")
    assert metadata(admin).body == {"queue": "test-queue", "endpoint": CHAT}


def test_registering_again_with_another_endpoint_conflicts(admin: Caller) -> None:
    register(admin)

    answer = register(admin, endpoint="/v1/embeddings")

    assert answer.status == 409
    assert answer.body["code"] == 409
    assert "queue" in answer.body["message"]
    assert metadata(admin).body["endpoint"] == CHAT


@pytest.mark.parametrize("role", ["producer", "worker"])
def test_only_an_admin_may_register(role: str, admin: Caller) -> None:
    answer = register(Caller(f"ak-{role}", role))

    assert answer.status == 403
    assert metadata(admin).status == 404  # nothing was registered


def test_register_without_a_key_is_unauthorized() -> None:
    assert register(None).status == 401


@pytest.mark.parametrize("queue", ["", "has space", "dotted.name", "q:1", "x" * 65, "ünïcode"])
def test_register_rejects_an_invalid_queue_name(admin: Caller, queue: str) -> None:
    answer = register(admin, queue=queue)

    assert answer.status == 400
    assert "queue" in answer.body["message"]


def test_register_accepts_the_longest_valid_name(admin: Caller) -> None:
    name = "A-z_0" + "q" * 59

    assert register(admin, queue=name).body == name
    assert metadata(admin, name).status == 200


@pytest.mark.parametrize("body", [{"queue": "test-queue"}, {"queue": "test-queue", "endpoint": ""}])
def test_register_needs_an_endpoint(admin: Caller, body: dict) -> None:
    answer = call("POST", "/v1/queue/register", body, admin)

    assert answer.status == 400
    assert "endpoint" in answer.body["message"]


def test_metadata_of_an_unknown_queue_is_not_found(worker: Caller) -> None:
    answer = metadata(worker, "no-such-queue")

    assert answer.status == 404
    assert "queue" in answer.body["message"]


def test_metadata_needs_a_key_whose_patterns_cover_the_queue(admin: Caller) -> None:
    register(admin, queue="deepseek-r1")
    register(admin, queue="qwen-max")
    deepseek_worker = Caller("ak-ds-worker", "worker", ("deepseek-*",))

    assert metadata(deepseek_worker, "deepseek-r1").status == 200
    assert metadata(deepseek_worker, "qwen-max").status == 403
    assert metadata(deepseek_worker, "deepseek-unregistered").status == 404
    assert metadata(deepseek_worker, "qwen-unregistered").status == 403


def test_registration_is_stored_not_just_remembered(admin: Caller, dynamodb: object, clock: ManualClock, serve) -> None:
    """A new function instance (a new service on the same tables) sees the registration."""
    register(admin)
    serve(QueueService(DynamoStore(dynamodb, TableNames.from_env()), clock))

    assert metadata(admin).body == {"queue": "test-queue", "endpoint": CHAT}
    assert register(admin, endpoint="/v1/embeddings").status == 409
