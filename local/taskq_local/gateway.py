"""What API Gateway does around the function for one request: authorize, build the proxy event,
invoke, translate the result. The HTTP server (server.py) only moves bytes."""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from .events import HttpRequest, HttpResponse, error_response, from_result, split_target, to_event

logger = logging.getLogger("taskq_local")

# The methods of the template's `ANY /{proxy+}`; API Gateway refuses any other.
ANY_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
# Routes the gateway serves without a key (spec §3.12).
PUBLIC_PATHS = frozenset({"/health", "/openapi.json"})
# The request context API Gateway passes for the bootstrap admin key (spec §5).
ADMIN_CONTEXT = {"principalId": "ak-admin", "ak": "ak-admin", "role": "admin", "queues": json.dumps(["*"])}

# headers -> the authorizer's context, or None for "no valid key" (the gateway then answers 401).
Authorizer = Callable[[Mapping[str, str]], dict[str, Any] | None]
Handler = Callable[[dict[str, Any], Any], Any]


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def admin_key_authorizer(admin_key: str) -> Authorizer:
    """The seam the auth issue replaces with the real authorizer function (and its cache,
    TASKQ_AUTH_CACHE_SECONDS). Until then the bootstrap admin key is the only valid key."""

    def authorize(headers: Mapping[str, str]) -> dict[str, Any] | None:
        token = bearer_token(headers)
        if token is not None and hmac.compare_digest(token.encode(), admin_key.encode()):
            return dict(ADMIN_CONTEXT)
        return None

    return authorize


class LocalLambdaContext:
    """The attributes of a Lambda context object that the handler and powertools read."""

    function_name = "taskq-local-ApiFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:taskq-local-ApiFunction"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/taskq-local-ApiFunction"
    log_stream_name = "local"
    timeout_seconds = 29  # the template's function timeout

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalGateway:
    def __init__(self, handler: Handler, authorize: Authorizer) -> None:
        self._handler = handler
        self._authorize = authorize

    def handle(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ANY_METHODS:
            allow = [("Allow", ", ".join(ANY_METHODS))]
            return error_response(405, f"method {request.method} is not supported", allow)
        authorizer_context = None
        if split_target(request.target)[0] not in PUBLIC_PATHS:
            headers = {name: value for name, value in request.headers}  # the last of repeated names
            authorizer_context = self._authorize(headers)
            if authorizer_context is None:
                message = "Authorization: a valid API key is required (Bearer <apikey>)"
                return error_response(401, message, [("WWW-Authenticate", "Bearer")])
            authorizer_context = {**authorizer_context, "integrationLatency": 0}  # API Gateway adds it
        event = to_event(request, authorizer_context)
        try:
            result = self._handler(event, LocalLambdaContext())
        except Exception:  # a crashed invocation is API Gateway's 502, never a dropped connection
            logger.exception("the function raised on %s %s", request.method, request.target)
            return error_response(502, "the function failed; see the server log")
        return from_result(result)
