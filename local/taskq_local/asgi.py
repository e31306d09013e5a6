"""Functions served as the Lambda Web Adapter (LWA) serves them: an ASGI app, called directly,
many requests at once, its answer streamed to the client as the app sends it.

In AWS (REST API response streaming, `AWS_LWA_INVOKE_MODE: response_stream`) LWA turns the
proxy event back into an HTTP request for the app: the event's headers, the path as API Gateway
forwards it, the query re-encoded from its decoded parameters, and two headers of its own that
replace any the client sent — `x-amzn-request-context` (the event's `requestContext` as JSON,
the authorizer's context under `authorizer`) and `x-amzn-lambda-context` (lambda_runtime's
`Context`). See aws-lambda-web-adapter `src/lib.rs`, `fetch_response`.

Each request runs the app on its own event loop, on the thread the HTTP server already gave
its connection (docs/design.md, "The local server", says why).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Protocol
from urllib.parse import unquote, urlencode

from .events import FRAMING_HEADERS, HttpRequest, error_response, query_parameters, request_context, split_target
from .routes import RouteMatch

logger = logging.getLogger("taskq_local")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
AsgiApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

REQUEST_CONTEXT_HEADER = "x-amzn-request-context"
LAMBDA_CONTEXT_HEADER = "x-amzn-lambda-context"
# Set by the gateway, never by the client; framing is the server's business.
_DROPPED_HEADERS = FRAMING_HEADERS | {REQUEST_CONTEXT_HEADER, LAMBDA_CONTEXT_HEADER}


class ResponseChannel(Protocol):
    """The server's side of one streamed answer, on the connection's thread."""

    socket: socket.socket  # watched for the client going away

    def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        """Status line and headers, sent at once (chunked when no Content-Length is given)."""

    def write(self, data: bytes) -> None:
        """Sends a body chunk at once; OSError when the client is gone."""

    def finish(self) -> None:
        """The answer is complete; the connection may serve another request."""

    def abort(self) -> None:
        """The answer cannot be completed: the connection is closed without its end."""


def lambda_context(function: str, timeout_seconds: float, request_id: str) -> dict[str, Any]:
    """lambda_runtime's `Context` as LWA serializes it."""
    name = f"taskq-local-{function}"
    return {
        "request_id": request_id,
        "deadline": int((time.time() + timeout_seconds) * 1000),
        "invoked_function_arn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        "xray_trace_id": None,
        "client_context": None,
        "identity": None,
        "env_config": {
            "function_name": name,
            "memory": 512,
            "version": "$LATEST",
            "log_stream": "local",
            "log_group": f"/aws/lambda/{name}",
        },
    }


def asgi_scope(
    request: HttpRequest, match: RouteMatch, authorizer: Mapping[str, Any] | None, function: str, timeout: float
) -> Scope:
    path = split_target(request.target)[0]
    query = query_parameters(request)
    context = request_context(request, match.route.resource, authorizer)
    headers = [(k.lower(), v) for k, v in request.headers if k.lower() not in _DROPPED_HEADERS]
    if request.body:
        headers.append(("content-length", str(len(request.body))))
    headers.append((REQUEST_CONTEXT_HEADER, json.dumps(context)))
    headers.append((LAMBDA_CONTEXT_HEADER, json.dumps(lambda_context(function, timeout, str(uuid.uuid4())))))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},  # as uvicorn (run.sh) declares it
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode("ascii", errors="replace"),
        "query_string": urlencode([(k, v) for k, values in query.items() for v in values]).encode(),
        "root_path": "",
        "headers": [(k.encode("latin-1"), v.encode("latin-1", errors="replace")) for k, v in headers],
        "client": (request.source_ip, 0),
        "server": None,
        "state": {},
    }


class AsgiFunction:
    def __init__(self, app: AsgiApp, name: str, timeout_seconds: float = 29) -> None:
        self._app = app
        self._name = name
        self._timeout_seconds = timeout_seconds

    def invoke(self, request: HttpRequest, match: RouteMatch, authorizer: Mapping[str, Any] | None) -> AsgiExchange:
        scope = asgi_scope(request, match, authorizer, self._name, self._timeout_seconds)
        return AsgiExchange(self._app, scope, request.body, self._name)


class AsgiExchange:
    """One request to an ASGI app; `run` drives it on the calling thread until the app returns."""

    def __init__(self, app: AsgiApp, scope: Scope, body: bytes, function: str) -> None:
        self.app, self.scope, self.body, self.function = app, scope, body, function

    def run(self, channel: ResponseChannel) -> None:
        asyncio.run(_Exchange(self, channel).run())


class _Exchange:
    def __init__(self, exchange: AsgiExchange, channel: ResponseChannel) -> None:
        self._exchange = exchange
        self._channel = channel
        self._body_received = False
        self._started = False
        self._finished = False
        self._disconnected = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        fd = self._channel.socket.fileno()
        loop.add_reader(fd, self._on_readable, loop, fd)
        try:
            await self._exchange.app(self._exchange.scope, self._receive, self._send)
        except Exception:
            where = f"{self._exchange.scope['method']} {self._exchange.scope['path']}"
            logger.exception("%s raised on %s", self._exchange.function, where)
            self._end_after_failure("the function failed; see the server log")
        else:
            if not self._finished:
                if not self._disconnected.is_set():  # an app that stops for a client gone is right
                    logger.error("%s returned without completing its answer", self._exchange.function)
                self._end_after_failure("the function returned no answer")
        finally:
            loop.remove_reader(fd)

    def _on_readable(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        """The client closed its side (a read of 0 bytes) or reset it. Peeked, not read: bytes
        that arrive are the client's next request, left for the server (no longer watched)."""
        try:
            data = self._channel.socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        loop.remove_reader(fd)
        if not data:
            self._disconnected.set()

    async def _receive(self) -> Message:
        if not self._body_received:
            self._body_received = True
            return {"type": "http.request", "body": self._exchange.body, "more_body": False}
        if not self._finished:  # like uvicorn: after the answer, at once
            await self._disconnected.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if self._disconnected.is_set():  # dropped, as uvicorn drops it: receive() tells the app
            return
        kind = message["type"]
        try:
            if kind == "http.response.start" and not self._started:
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
                self._channel.start(int(message["status"]), headers)
                self._started = True
            elif kind == "http.response.body" and self._started and not self._finished:
                if message.get("body"):
                    self._channel.write(bytes(message["body"]))
                if not message.get("more_body", False):
                    self._channel.finish()
                    self._finished = True
            else:
                raise RuntimeError(f"unexpected ASGI message {kind!r} (started={self._started})")
        except OSError:  # the client went away mid-answer
            self._disconnected.set()

    def _end_after_failure(self, message: str) -> None:
        """Before the answer started: API Gateway's 502. After: the connection is closed, the
        only way left to tell the client the answer is incomplete."""
        if self._finished:
            return
        if self._started or self._disconnected.is_set():
            self._channel.abort()
            return
        response = error_response(502, message)
        try:
            self._channel.start(response.status, [*response.headers, ("Content-Length", str(len(response.body)))])
            self._channel.write(response.body)
            self._channel.finish()
        except OSError:
            self._channel.abort()
