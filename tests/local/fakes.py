"""A stand-in for the authorizer function, for tests of the gateway and the HTTP server."""

from __future__ import annotations

from typing import Any

from taskq_local.functions import Handler, LambdaFunction
from taskq_local.gateway import LocalGateway, function_authorizer
from taskq_local.routes import RouteTable

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


def gateway_for(handler: Handler, routes: RouteTable | None = None) -> LocalGateway:
    """A gateway on the template's routes (or `routes`) whose every function is `handler`."""
    routes = routes or RouteTable.from_template()
    functions = {route.function: LambdaFunction(handler, route.function) for route in routes.routes}
    return LocalGateway(routes, functions, fake_authorizer())
