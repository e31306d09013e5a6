"""A stand-in for the authorizer function, for tests of the gateway and the HTTP server."""

from __future__ import annotations

from typing import Any

from taskq_local.gateway import function_authorizer

KEY = "the-admin-key"
ADMIN_CONTEXT = {"ak": "ak-admin", "role": "admin", "queues": '["*"]'}


class FakeAuthorizer:
    """Answers like taskq_authorizer: an Allow policy with the principal for KEY, else raises."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.calls += 1
        assert event["type"] == "REQUEST"
        if event["headers"].get("Authorization") != f"Bearer {KEY}":
            raise Exception("Unauthorized")
        statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [event["methodArn"]]}
        return {"principalId": "ak-admin", "policyDocument": {"Statement": [statement]}, "context": ADMIN_CONTEXT}


def fake_authorizer() -> Any:
    """The gateway's authorizer with FakeAuthorizer behind it and no cache."""
    return function_authorizer(FakeAuthorizer(), cache_seconds=0)
