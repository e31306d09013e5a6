"""A small ASGI app that stands in for the online function in the local server's tests (plain
ASGI, no framework; each route does one thing a real app does: wait, stream, fail), and a real
HTTP server in-process that serves it beside a Lambda handler."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskq_local.asgi import AsgiFunction
from taskq_local.functions import LambdaFunction
from taskq_local.gateway import LocalGateway
from taskq_local.routes import Route, RouteTable
from taskq_local.server import LocalHttpServer
from tests.local.fakes import KEY, fake_authorizer


class Board:
    """A condition shared by requests on different event loops (one per request): waiters sleep
    in their loop until `release`, which wakes each loop from any thread. No polling."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._released = False
        self.outcomes: list[str] = []  # how each wait ended: released, disconnected

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiters)

    async def wait(self) -> None:
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if self._released:
                return
            self._waiters.add(waiter)
        try:
            await waiter[1].wait()
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    def release(self) -> None:
        with self._lock:
            self._released = True
            for loop, event in self._waiters:
                loop.call_soon_threadsafe(event.set)

    def record(self, outcome: str) -> None:
        with self._lock:
            self.outcomes.append(outcome)


async def _start(send: Any, status: int, content_type: bytes, length: int | None = None) -> None:
    headers = [(b"content-type", content_type), (b"x-task-id", b"T-1")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _json(send: Any, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    await _start(send, status, b"application/json", len(payload))
    await send({"type": "http.response.body", "body": payload})


async def _wait_or_disconnect(receive: Any, board: Board) -> str:
    """What a waiting route does: wait for the answer, or stop when the client goes away."""
    released = asyncio.ensure_future(board.wait())
    disconnect = asyncio.ensure_future(receive())
    done, pending = await asyncio.wait({released, disconnect}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    outcome = "disconnected" if disconnect in done else "released"
    board.record(outcome)
    return outcome


def make_app(board: Board) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        request = await receive()
        path = scope["path"]
        if path.startswith("/echo"):
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            fields = ("method", "path", "raw_path", "query_string", "client")
            echoed = {k: v.decode() if isinstance(v, bytes) else v for k, v in scope.items() if k in fields}
            await _json(send, 200, {**echoed, "headers": headers, "body": request["body"].decode()})
        elif path == "/wait":  # a blocking put: the answer when the worker's result is there
            if await _wait_or_disconnect(receive, board) == "released":
                await _json(send, 200, {"answer": 42})
        elif path == "/stream":  # a streaming put: an event at once, the next when released
            await _start(send, 200, b"text/event-stream")
            await send({"type": "http.response.body", "body": b"id: 1\ndata: first\n\n", "more_body": True})
            if await _wait_or_disconnect(receive, board) == "released":
                await send({"type": "http.response.body", "body": b"id: 2\ndata: last\n\n", "more_body": True})
                await send({"type": "http.response.body", "body": b""})
        elif path == "/ticker":  # streams without listening for the client: keep-alives
            await _start(send, 200, b"text/event-stream")
            for _ in range(50):
                await send({"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True})
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b""})
            board.record("ticked to the end")
        elif path == "/fail-before":
            raise RuntimeError("the app failed before answering")
        elif path == "/fail-after":
            await _start(send, 200, b"text/event-stream")
            await send({"type": "http.response.body", "body": b"data: partial\n\n", "more_body": True})
            raise RuntimeError("the app failed mid-answer")
        elif path == "/no-answer":
            return
        else:
            await _json(send, 404, {"code": 404, "message": f"no {path}"})

    return app


AUTH = ("Authorization", f"Bearer {KEY}")
ROUTES = RouteTable(
    [
        Route("GET", "/health", "ApiFunction", public=True),
        Route("ANY", "/v1/{proxy+}", "ApiFunction", public=False),
        Route("ANY", "/{proxy+}", "OnlineFunction", public=False),
    ]
)


def lambda_echo(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event["path"])}


@dataclass
class Served:
    server: LocalHttpServer
    board: Board

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def connect(self, timeout: float = 10) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(*self.address, timeout=timeout)


def serve(board: Board) -> LocalHttpServer:
    functions = {
        "ApiFunction": LambdaFunction(lambda_echo),
        "OnlineFunction": AsgiFunction(make_app(board), "OnlineFunction"),
    }
    server = LocalHttpServer(("127.0.0.1", 0), LocalGateway(ROUTES, functions, fake_authorizer()), access_log=False)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def eventually(condition: Callable[[], bool], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
