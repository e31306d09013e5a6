"""The Lambda REQUEST authorizer (spec §1, §3.11): a valid key gets an Allow policy for every route
of the stage and a context naming the key; anything else is API Gateway's 401, "Unauthorized".
The secret it is shown never reaches a log."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import pytest
from apigw import LambdaContextStub, load_sample

import taskq_api.app
import taskq_authorizer.app
from taskq.clock import ManualClock
from taskq.keys import KeyService, hash_secret
from taskq.models import Role
from taskq.store import DynamoStore

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/v1/queue/take"
ALL_ROUTES = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*"
SECRET = "tq_authorizer-test-secret-0123456789abcdefghijklmnopq"


def request_event(authorization: str | None) -> dict[str, Any]:
    """What API Gateway sends a REQUEST authorizer for `POST /v1/queue/take`: the proxy request
    without its body or authorizer context, plus `type` and `methodArn`."""
    event = load_sample("take")
    for name in ("body", "isBase64Encoded"):
        event.pop(name)
    event["requestContext"].pop("authorizer")
    headers = {k: v for k, v in event["headers"].items() if k.lower() != "authorization"}
    if authorization is not None:
        headers["Authorization"] = authorization
    event |= {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers}
    event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    return event


def authorize(authorization: str | None) -> dict[str, Any]:
    return taskq_authorizer.app.lambda_handler(request_event(authorization), LambdaContextStub())


@pytest.fixture
def keys(store: DynamoStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> KeyService:
    service = KeyService(store, clock)
    monkeypatch.setattr(taskq_authorizer.app, "key_service", lambda: service)
    return service


class CurrentStdout:
    """A stream that writes to whatever sys.stdout is at the time (capsys swaps it per phase)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch) -> Callable[[], str]:
    """All log output of the test: powertools' JSON lines (their handlers hold the stdout of
    import time, so they are pointed at the captured one) and every logging record with its extras."""
    caplog.set_level(logging.INFO)
    for logger in (taskq_authorizer.app.logger, taskq_api.app.logger):
        caplog.set_level(logging.DEBUG, logger=logger.name)  # our own loggers at every level
        for handler in logger.handlers:
            monkeypatch.setattr(handler, "stream", CurrentStdout())

    def text() -> str:
        captured = capsys.readouterr()
        records = [f"{r.getMessage()} {r.__dict__}" for r in caplog.records]
        return "\n".join([captured.out, captured.err, *records])

    return text


def test_a_valid_key_gets_allow_for_every_route_and_its_principal(keys: KeyService):
    key = keys.add(SECRET, "worker", Role.WORKER, ("alpha*", "beta-?"))

    answer = authorize(f"Bearer {SECRET}")

    assert answer == {
        "principalId": key.ak,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [ALL_ROUTES]}],
        },
        "context": {"ak": key.ak, "role": "worker", "queues": '["alpha*", "beta-?"]'},
    }
    assert json.loads(answer["context"]["queues"]) == ["alpha*", "beta-?"]


@pytest.mark.parametrize("role", ["producer", "worker", "admin"])
def test_the_context_carries_each_role(keys: KeyService, role: str):
    keys.add(SECRET, role, Role(role), ("*",))

    context = authorize(f"Bearer {SECRET}")["context"]

    assert (context["role"], json.loads(context["queues"])) == (role, ["*"])


@pytest.mark.parametrize("header", [f"bearer {SECRET}", f"BEARER {SECRET}", f"Bearer {SECRET} "])
def test_the_scheme_is_case_insensitive(keys: KeyService, header: str):
    key = keys.add(SECRET, "p", Role.PRODUCER, ("*",))

    assert authorize(header)["principalId"] == key.ak


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="no header"),
        pytest.param("", id="empty header"),
        pytest.param("Bearer", id="no secret"),
        pytest.param("Bearer ", id="blank secret"),
        pytest.param(f"Basic {SECRET}", id="basic scheme"),
        pytest.param(SECRET, id="no scheme"),
        pytest.param("Bearer tq_made-up-secret", id="unknown key"),
        pytest.param(f"Bearer {hash_secret(SECRET)}", id="the hash instead of the secret"),
        pytest.param(f"Bearer {SECRET}x", id="secret with an extra character"),
    ],
)
def test_anything_but_a_valid_bearer_key_is_unauthorized(keys: KeyService, header: str | None):
    keys.add(SECRET, "p", Role.ADMIN, ("*",))

    with pytest.raises(Exception) as raised:
        authorize(header)

    assert type(raised.value) is Exception and str(raised.value) == "Unauthorized"


def test_a_revoked_key_is_unauthorized(keys: KeyService):
    admin = keys.add("tq_admin-secret", "admin", Role.ADMIN, ("*",)).principal
    key = keys.add(SECRET, "w", Role.WORKER, ("*",))
    assert authorize(f"Bearer {SECRET}")["principalId"] == key.ak

    keys.revoke(admin, key.ak)

    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(f"Bearer {SECRET}")


def test_the_secret_never_reaches_the_logs(keys: KeyService, logs: Callable[[], str]):
    key = keys.add(SECRET, "w", Role.WORKER, ("*",))

    # When: a valid request, then a rejected one with a real-looking secret
    authorize(f"Bearer {SECRET}")
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(f"Bearer {SECRET}-revoked-or-mistyped")

    # Then: the capture works (the key id is logged) but neither secret nor hash is there
    text = logs()
    assert '"message":"authorized"' in text and '"message":"rejected: no valid key"' in text  # JSON on stdout
    assert f"'ak': '{key.ak}'" in text  # the record's extras, through caplog
    assert SECRET not in text
    assert hash_secret(SECRET) not in text and hash_secret(f"{SECRET}-revoked-or-mistyped") not in text
