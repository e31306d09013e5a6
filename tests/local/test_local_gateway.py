"""The local gateway: the authorizer function run as API Gateway runs it, public routes,
invocation and 502s."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taskq_api.app import lambda_handler
from taskq_local.events import HttpRequest
from taskq_local.gateway import function_authorizer
from tests.local.fakes import ADMIN_CONTEXT, KEY, FakeAuthorizer, gateway_for


class RecordingHandler:
    def __init__(self, result: Any = None, error: Exception | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.result = result or {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}
        self.error = error

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        assert context.get_remaining_time_in_millis() > 0
        if self.error:
            raise self.error
        return self.result


def get(target: str, *headers: tuple[str, str]) -> HttpRequest:
    return HttpRequest("GET", target, list(headers))


def bearer(key: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {key}")


def test_the_authorizer_function_decides_and_its_context_reaches_the_function():
    fake = FakeAuthorizer()
    authorize = function_authorizer(fake, cache_seconds=0)
    assert authorize({"Authorization": f"Bearer {KEY}"}) == ADMIN_CONTEXT | {"principalId": "ak-admin"}
    assert authorize({"Authorization": "Bearer wrong"}) is None
    assert fake.calls == 2


def test_without_an_authorization_header_the_authorizer_is_not_called():
    fake = FakeAuthorizer()
    assert function_authorizer(fake, cache_seconds=0)({}) is None
    assert fake.calls == 0


def test_answers_are_cached_per_header_for_the_cache_time():
    fake, clock = FakeAuthorizer(), [100.0]
    authorize = function_authorizer(fake, cache_seconds=300, now=lambda: clock[0])
    for _ in range(3):
        authorize({"Authorization": f"Bearer {KEY}"})
        authorize({"Authorization": "Bearer wrong"})  # a refusal is cached too, as in API Gateway
    assert fake.calls == 2
    clock[0] += 301
    authorize({"Authorization": f"Bearer {KEY}"})
    assert fake.calls == 3


@pytest.mark.parametrize("headers", [(), (bearer("wrong"),), (("Authorization", KEY),)])
def test_v1_route_without_a_valid_key_is_401_before_the_function_runs(headers):
    handler = RecordingHandler()
    response = gateway_for(handler).handle(get("/v1/queue/TASK-1", *headers))
    assert response.status == 401
    assert json.loads(response.body)["code"] == 401
    assert handler.events == []


def test_admin_key_reaches_the_function_with_the_authorizer_context():
    handler = RecordingHandler()
    response = gateway_for(handler).handle(get("/v1/queue/TASK-1", bearer(KEY)))
    assert response.status == 200
    authorizer = handler.events[0]["requestContext"]["authorizer"]
    assert (authorizer["ak"], authorizer["role"], authorizer["queues"]) == ("ak-admin", "admin", '["*"]')


@pytest.mark.parametrize("path", ["/health", "/openapi.json"])
def test_public_routes_need_no_key_and_carry_no_authorizer_context(path: str):
    handler = RecordingHandler()
    response = gateway_for(handler).handle(get(path))
    assert response.status == 200
    assert "authorizer" not in handler.events[0]["requestContext"]


def test_a_function_that_raises_is_a_502_with_the_error_body():
    gateway = gateway_for(RecordingHandler(error=RuntimeError("boom")))
    response = gateway.handle(get("/health"))
    assert response.status == 502
    assert json.loads(response.body)["code"] == 502


# The real handler, unchanged: routes that need no table.


def test_real_handler_health():
    response = gateway_for(lambda_handler).handle(get("/health"))
    assert response.status == 200
    assert json.loads(response.body) == {"status": "ok"}


def test_real_handler_openapi_document():
    response = gateway_for(lambda_handler).handle(get("/openapi.json"))
    assert response.status == 200
    document = json.loads(response.body)
    assert document["openapi"].startswith("3.")
    assert "/v1/queue/put" in document["paths"]


def test_real_handler_unknown_route_is_404_with_the_error_body():
    response = gateway_for(lambda_handler).handle(get("/v1/nowhere?a=1", bearer(KEY)))
    assert response.status == 404
    body = json.loads(response.body)
    assert body["code"] == 404 and "/v1/nowhere" in body["message"]


def test_methods_outside_any_are_405_before_the_function_runs():
    handler = RecordingHandler()
    response = gateway_for(handler).handle(HttpRequest("TRACE", "/health"))
    assert response.status == 405 and json.loads(response.body)["code"] == 405
    assert ("Allow", "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT") in response.headers
    assert handler.events == []
