"""Secrets are shown once and stored only as hashes (spec §2, §3.11): after a whole producer and
worker scenario, no secret is anywhere, and a secret's hash only in the two items of its key."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from apigw import Answer, Caller, LambdaContextStub, call, load_sample

import taskq_api.app
import taskq_authorizer.app
from taskq.clock import ManualClock
from taskq.keys import KeyService, hash_secret
from taskq.store import DynamoStore

ADMIN_SECRET = "tq_bootstrap-admin-secret-for-the-leak-test-000000"
CHAT = "/v1/chat/completions"


class CurrentStdout:
    """A stream that writes to whatever sys.stdout is at the time (capsys swaps it per phase)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class Client:
    """Sends each request the way API Gateway would: the real Authorization header goes through the
    authorizer, whose context must name the principal KeyService.authenticate gives."""

    def __init__(self, keys: KeyService) -> None:
        self.keys = keys
        self.answers: list[Answer] = []

    def __call__(self, secret: str, method: str, path: str, body: Any = None, **headers: str) -> Answer:
        principal = self.keys.authenticate(secret)
        assert principal is not None
        caller = Caller(principal.ak, principal.role.value, principal.queues)
        event = load_sample("take") | {"type": "REQUEST", "headers": {"Authorization": f"Bearer {secret}"}}
        event["methodArn"] = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/v1/queue/take"
        context = taskq_authorizer.app.lambda_handler(event, LambdaContextStub())["context"]
        assert {k: context[k] for k in ("ak", "role")} == {"ak": caller.ak, "role": caller.role}
        answer = call(method, path, body, caller, {"Authorization": f"Bearer {secret}"} | headers)
        self.answers.append(answer)
        return answer


def scan_everything(dynamodb: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, item) for every item of every table, all pages."""
    for table in dynamodb.list_tables()["TableNames"]:
        request: dict[str, Any] = {"TableName": table}
        while True:
            page = dynamodb.scan(**request)
            for item in page["Items"]:
                yield table, item
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture
def keys(store: DynamoStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> KeyService:
    service = KeyService(store, clock)
    monkeypatch.setattr(taskq_authorizer.app, "key_service", lambda: service)
    return service


def test_no_secret_or_hash_leaks(dynamodb, keys: KeyService, clock: ManualClock, capsys, caplog, monkeypatch):
    # Given: every log line captured — powertools' JSON on stdout and all logging records
    caplog.set_level(logging.INFO)
    for logger in (taskq_authorizer.app.logger, taskq_api.app.logger):
        caplog.set_level(logging.DEBUG, logger=logger.name)  # our own loggers at every level
        for handler in logger.handlers:
            monkeypatch.setattr(handler, "stream", CurrentStdout())
    request = Client(keys)
    admin_ak = keys.bootstrap_admin(ADMIN_SECRET).ak

    # When: the admin creates a producer and a worker key
    producer_key = request(ADMIN_SECRET, "POST", "/v1/keys", {"name": "p", "role": "producer", "queues": ["leak*"]})
    worker_key = request(ADMIN_SECRET, "POST", "/v1/keys", {"name": "w", "role": "worker", "queues": ["leak*"]})
    assert (producer_key.status, worker_key.status) == (201, 201)
    producer, worker = producer_key.body["apikey"], worker_key.body["apikey"]
    created = len(request.answers)

    # ... and they put, take, complete and read tasks; the admin lists the keys
    assert request(ADMIN_SECRET, "POST", "/v1/queue/register", {"queue": "leak-q", "endpoint": CHAT}).status == 200
    task_ids = []
    for n in range(3):
        clock.advance(seconds=1)
        body = {"queue": "leak-q", "endpoint": CHAT, "data": {"prompt": f"question {n}", "user": "alice"}}
        answer = request(producer, "POST", "/v1/queue/put", body, **{"Idempotency-Key": f"order-{n}"})
        assert answer.status == 200
        task_ids.append(answer.body["data"])
    taken = request(worker, "POST", "/v1/queue/take", {"queues": ["leak-q:0"], "size": 10, "process_timeout": 60})
    assert [t["task_id"] for t in taken.body["leak-q:0"]] == task_ids
    for task in taken.body["leak-q:0"]:
        result = {"status_code": 200, "request_id": task["task_id"], "body": {"answer": 42}}
        assert request(worker, "POST", f"/v1/queue/{task['task_id']}/complete", result).status == 200
    read = [request(secret, "GET", f"/v1/queue/{task_id}") for task_id in task_ids for secret in (producer, worker)]
    assert [(a.status, a.body["status"]) for a in read] == [(200, "succeeded")] * 6
    listing = request(ADMIN_SECRET, "GET", "/v1/keys")
    assert listing.status == 200 and len(listing.body) == 3

    secrets = {ADMIN_SECRET: admin_ak, producer: producer_key.body["ak"], worker: worker_key.body["ak"]}
    hashes = {hash_secret(s): ak for s, ak in secrets.items()}

    # Then: no secret in any item; each hash only in its key's lookup item and listing item
    items = [(table, str(item), item) for table, item in scan_everything(dynamodb)]
    assert len(items) > 10
    for table, text, item in items:
        assert not any(s in text for s in secrets), item
        for key_hash, ak in hashes.items():
            if key_hash in text:
                key = (item["pk"]["S"], item["sk"]["S"])
                assert table == "taskq-control" and key in {(f"APIKEY#{key_hash}", "APIKEY"), ("APIKEYS", ak)}, item
    for key_hash, ak in hashes.items():
        holders = [item for _, text, item in items if key_hash in text]
        assert len(holders) == 2, holders
        assert {h["pk"]["S"] for h in holders} == {f"APIKEY#{key_hash}", "APIKEYS"}
        listing_item = next(h for h in holders if h["pk"]["S"] == "APIKEYS")
        assert listing_item["sk"]["S"] == ak and listing_item["key_hash"]["S"] == key_hash

    # ... every stored task names its producer by key id
    tasks = [item for table, _, item in items if table == "taskq-tasks"]
    assert len(tasks) == 3 and {t["ak"]["S"] for t in tasks} == {producer_key.body["ak"]}

    # ... no answer after the creating ones shows a secret or a hash; tasks carry the key id
    for answer in request.answers[created:]:
        text = str(answer.body)
        assert not any(s in text for s in secrets) and not any(h in text for h in hashes), answer
    shown = [*taken.body["leak-q:0"], *(a.body for a in read)]
    assert len(shown) == 9 and {t["ak"] for t in shown} == {producer_key.body["ak"]}
    assert producer_key.body["ak"].startswith("ak-")

    # ... and no log line does (the capture works: the authorizer logged each key id)
    logs = capsys.readouterr()
    log_text = "\n".join([logs.out, logs.err, *(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)])
    assert all(ak in log_text for ak in secrets.values())
    assert not any(s in log_text for s in secrets) and not any(h in log_text for h in hashes)
