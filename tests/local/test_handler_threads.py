"""The local server runs the API handler on many threads at once, unlike Lambda. A resolver
keeps the request it serves, so a shared one would answer one request with another's data."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

import taskq_api.app as api
from taskq.service import QueueService
from taskq.store import DynamoStore
from taskq_api.dependencies import get_service
from tests.functional.apigw import Caller, LambdaContextStub, build_event

ADMIN = Caller("ak-admin", "admin")
QUEUES = [f"queue-{n}" for n in range(8)]


def put(n: int) -> tuple[int, dict]:
    """Puts a task whose queue and payload both say `n`; returns n and the stored task."""
    body = {"queue": QUEUES[n % len(QUEUES)], "endpoint": "/v1/x", "data": {"n": n}}
    answer = api.lambda_handler(build_event("POST", "/v1/queue/put", body, ADMIN), LambdaContextStub())
    assert answer["statusCode"] == 200, answer
    task_id = json.loads(answer["body"])["data"]
    task = api.lambda_handler(build_event("GET", f"/v1/queue/{task_id}", None, ADMIN), LambdaContextStub())
    return n, json.loads(task["body"])


@pytest.fixture
def registered(service: QueueService, store: DynamoStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "create_app", _app_using(service, api.create_app))
    monkeypatch.setattr(api, "_per_thread", type(api._per_thread)())
    for queue in QUEUES:
        store.register_queue(queue, "/v1/x", 0)


def _app_using(service: QueueService, create_app):
    def create():
        resolver = create_app()
        resolver.dependency_overrides[get_service] = lambda: service
        return resolver

    return create


def test_concurrent_requests_each_get_their_own_answer(registered: None) -> None:
    # When 8 threads put 400 tasks, each naming its number in its queue and its payload
    with ThreadPoolExecutor(8) as pool:
        stored = list(pool.map(put, range(400)))

    # Then every stored task holds the queue and payload of the request that put it
    mixed = [n for n, task in stored if (task["queue"], task["data"]) != (QUEUES[n % len(QUEUES)], {"n": n})]
    assert mixed == []
