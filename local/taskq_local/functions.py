"""The functions behind the routes, as the template declares them, and the Lambda kind of runner.

A function whose environment names `TASKQ_ASGI_APP` (module:attr) runs in AWS as an ASGI app
behind the Lambda Web Adapter: the local server calls the app directly (asgi.py). Any other
function is a Lambda handler (`Handler: module.function`) invoked with the proxy event.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from .asgi import AsgiFunction
from .events import HttpRequest, HttpResponse, error_response, from_result, to_event
from .routes import RouteMatch, routes_from_template
from .template import TEMPLATE, load_template

logger = logging.getLogger("taskq_local")

ASGI_APP_VARIABLE = "TASKQ_ASGI_APP"
DEFAULT_TIMEOUT_SECONDS = 3  # Lambda's, when neither the function nor Globals set one

Handler = Callable[[dict[str, Any], Any], Any]


class LocalLambdaContext:
    """The attributes of a Lambda context object that the handler and powertools read."""

    function_version = "$LATEST"
    memory_limit_in_mb = 512
    log_stream_name = "local"

    def __init__(self, function_name: str = "taskq-local-ApiFunction", timeout_seconds: float = 29) -> None:
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.timeout_seconds = timeout_seconds
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction(Protocol):
    """What the gateway invokes for a matched route: an answer, or (asgi.AsgiExchange) one the
    server streams."""

    def invoke(self, request: HttpRequest, match: RouteMatch, authorizer: Mapping[str, Any] | None) -> Any: ...


class LambdaFunction:
    """A Lambda handler, invoked for one request at a time, as one execution environment runs
    it. The API function needs that: powertools' resolver keeps the request it is serving in
    class-level state (`BaseRouter.current_event`), shared by every thread."""

    def __init__(self, handler: Handler, name: str = "ApiFunction", timeout_seconds: float = 29) -> None:
        self._handler = handler
        self._name = name
        self._timeout_seconds = timeout_seconds
        self._environment = threading.Lock()

    def invoke(self, request: HttpRequest, match: RouteMatch, authorizer: Mapping[str, Any] | None) -> HttpResponse:
        event = to_event(request, authorizer, match.route.resource, match.path_parameters)
        try:
            with self._environment:
                result = self._handler(event, LocalLambdaContext(f"taskq-local-{self._name}", self._timeout_seconds))
        except Exception:  # a crashed invocation is API Gateway's 502, never a dropped connection
            logger.exception("%s raised on %s %s", self._name, request.method, request.target)
            return error_response(502, "the function failed; see the server log")
        return from_result(result)


class UnavailableFunction:
    """A function the server could not load: its routes answer 502 saying why (the other routes
    keep working; the reason is also logged at start-up)."""

    def __init__(self, name: str, reason: str) -> None:
        self._message = f"the function {name} could not be loaded: {reason}"

    def invoke(self, request: HttpRequest, match: RouteMatch, authorizer: Mapping[str, Any] | None) -> HttpResponse:
        return error_response(502, self._message)


def _attribute(reference: str, separator: str) -> Any:
    module, _, name = reference.rpartition(separator)
    return getattr(importlib.import_module(module), name)


def load_function(logical_id: str, template: Mapping[str, Any], root: Path) -> LocalFunction:
    """Imports the function's code: the ASGI app its environment names, or its handler. Its
    CodeUri goes on sys.path (last: an installed package of the same name wins)."""
    function = template["Resources"][logical_id]["Properties"]
    defaults = (template.get("Globals") or {}).get("Function") or {}
    variables = {
        **((defaults.get("Environment") or {}).get("Variables") or {}),
        **((function.get("Environment") or {}).get("Variables") or {}),
    }
    timeout = float(function.get("Timeout") or defaults.get("Timeout") or DEFAULT_TIMEOUT_SECONDS)
    code = str(root / str(function.get("CodeUri", "")))
    if code not in sys.path:
        sys.path.append(code)
    try:
        if ASGI_APP_VARIABLE in variables:
            return AsgiFunction(_attribute(str(variables[ASGI_APP_VARIABLE]), ":"), logical_id, timeout)
        return LambdaFunction(_attribute(str(function["Handler"]), "."), logical_id, timeout)
    except Exception as e:  # ImportError, AttributeError, or whatever the module raised
        logger.error("cannot load %s: %s", logical_id, e)
        return UnavailableFunction(logical_id, f"{type(e).__name__}: {e}")


def load_functions(path: Path = TEMPLATE) -> dict[str, LocalFunction]:
    """Every function that serves a route, by logical id. Call it once the environment is
    final: powertools reads its settings when a handler's module is imported."""
    template = load_template(path)
    names = dict.fromkeys(route.function for route in routes_from_template(template))
    return {name: load_function(name, template, path.parent) for name in names}
