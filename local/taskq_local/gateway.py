"""What API Gateway does around the function for one request: authorize, build the proxy event,
invoke, translate the result. The HTTP server (server.py) only moves bytes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from .asgi import AsgiExchange
from .events import HttpRequest, HttpResponse, error_response, split_target
from .functions import Handler, LocalFunction, LocalLambdaContext
from .routes import ANY_METHODS, RouteMiss, RouteTable

# The ARN API Gateway would name in an authorizer event; the policy the authorizer answers
# allows every route of this "stage".
LOCAL_METHOD_ARN = "arn:aws:execute-api:us-east-1:000000000000:local/prod/ANY/"

# headers -> the authorizer's context, or None for "no valid key" (the gateway then answers 401).
Authorizer = Callable[[Mapping[str, str]], dict[str, Any] | None]


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
        answer = handler(event, LocalLambdaContext("taskq-local-AuthorizerFunction", 10))
    except Exception as e:
        if str(e) == "Unauthorized":  # the authorizer's way to say 401
            return None
        raise
    statements = answer.get("policyDocument", {}).get("Statement", [])
    if not any(s.get("Effect") == "Allow" for s in statements):
        return None
    return {**answer.get("context", {}), "principalId": answer.get("principalId", "")}


class LocalGateway:
    """API Gateway for the local server: routes from the template, the authorizer where the
    route has one, then the route's function. `functions` maps logical ids to runners
    (functions.py, asgi.py); a function missing from it answers 502."""

    def __init__(self, routes: RouteTable, functions: Mapping[str, LocalFunction], authorize: Authorizer) -> None:
        self._routes = routes
        self._functions = dict(functions)
        self._authorize = authorize

    def handle(self, request: HttpRequest) -> HttpResponse | AsgiExchange:
        """An answer, or an exchange the server streams (AsgiExchange.run)."""
        if request.method not in ANY_METHODS:
            allow = [("Allow", ", ".join(ANY_METHODS))]
            return error_response(405, f"method {request.method} is not supported", allow)
        match = self._routes.match(request.method, split_target(request.target)[0])
        if isinstance(match, RouteMiss):
            return error_response(match.status, match.message)
        authorizer_context = None
        if not match.route.public:
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
        function = self._functions.get(match.route.function)
        if function is None:
            return error_response(502, f"the function {match.route.function} is not loaded")
        return function.invoke(request, match, authorizer_context)
