"""What API Gateway does around the function for one request: authorize, build the proxy event,
invoke, translate the result. The HTTP server (server.py) only moves bytes."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from .events import HttpRequest, HttpResponse, error_response, from_result, split_target, to_event

logger = logging.getLogger("taskq_local")

# The methods of the template's `ANY /{proxy+}`; API Gateway refuses any other.
ANY_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
# Routes the gateway serves without a key (spec §3.12).
PUBLIC_PATHS = frozenset({"/health", "/openapi.json"})
# The ARN API Gateway would name in an authorizer event; the policy the authorizer answers
# allows every route of this "stage".
LOCAL_METHOD_ARN = "arn:aws:execute-api:us-east-1:000000000000:local/prod/ANY/"

# headers -> the authorizer's context, or None for "no valid key" (the gateway then answers 401).
Authorizer = Callable[[Mapping[str, str]], dict[str, Any] | None]
Handler = Callable[[dict[str, Any], Any], Any]


def function_authorizer(
    handler: Handler, cache_seconds: float, now: Callable[[], float] = time.monotonic
) -> Authorizer:
    """Runs the real authorizer function as API Gateway does: a REQUEST event whose identity
    source is the Authorization header (no header: 401 without calling it), its answer cached
    per header value for `cache_seconds` (TASKQ_AUTH_CACHE_SECONDS; 0 locally, so a revoked key
    stops working at once; 300 in AWS)."""
    cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
    lock = threading.Lock()

    def authorize(headers: Mapping[str, str]) -> dict[str, Any] | None:
        identity = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if not identity:
            return None
        with lock:
            hit = cache.get(identity)
        if hit is not None and hit[0] > now():
            return hit[1]
        context = _invoke_authorizer(handler, dict(headers))
        if cache_seconds > 0:
            with lock:
                cache[identity] = (now() + cache_seconds, context)
        return context

    return authorize


def _invoke_authorizer(handler: Handler, headers: dict[str, str]) -> dict[str, Any] | None:
    event = {"type": "REQUEST", "methodArn": LOCAL_METHOD_ARN, "headers": headers, "httpMethod": "ANY"}
    try:
        answer = handler(event, LocalLambdaContext("taskq-local-AuthorizerFunction"))
    except Exception as e:
        if str(e) == "Unauthorized":  # the authorizer's way to say 401
            return None
        raise
    statements = answer.get("policyDocument", {}).get("Statement", [])
    if not any(s.get("Effect") == "Allow" for s in statements):
        return None
    return {**answer.get("context", {}), "principalId": answer.get("principalId", "")}


class LocalLambdaContext:
    """The attributes of a Lambda context object that the handler and powertools read."""

    function_version = "$LATEST"
    memory_limit_in_mb = 512
    log_stream_name = "local"
    timeout_seconds = 29  # the template's function timeout

    def __init__(self, function_name: str = "taskq-local-ApiFunction") -> None:
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalGateway:
    """`one_at_a_time`: invoke the function for one request at a time, as one Lambda execution
    environment does. The API function needs it: powertools' resolver keeps the request it is
    serving in class-level state (`BaseRouter.current_event`), shared by every thread. The HTTP
    server stays threaded, so slow clients (reading bodies, idle keep-alive) block nobody."""

    def __init__(self, handler: Handler, authorize: Authorizer, one_at_a_time: bool = True) -> None:
        self._handler = handler
        self._authorize = authorize
        self._environment = threading.Lock() if one_at_a_time else contextlib.nullcontext()

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
        if request.method == "HEAD":
            # HEAD is GET without the body (RFC 9110 §9.3.2); the routes declare GET only, so
            # the function answers the GET and the server sends its headers alone.
            request = replace(request, method="GET")
        event = to_event(request, authorizer_context)
        try:
            with self._environment:
                result = self._handler(event, LocalLambdaContext())
        except Exception:  # a crashed invocation is API Gateway's 502, never a dropped connection
            logger.exception("the function raised on %s %s", request.method, request.target)
            return error_response(502, "the function failed; see the server log")
        return from_result(result)
