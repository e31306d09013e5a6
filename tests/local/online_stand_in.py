"""The test ASGI app as a module `taskq serve` loads the way it loads the online function
(`TASKQ_ASGI_APP: online_stand_in:app`, its folder as CodeUri), plus two routes to steer it
from another process: `GET /waiting` counts the waits, `POST /release` ends them."""

from __future__ import annotations

import json
from typing import Any

from tests.local.asgi_apps import Board, make_app

board = Board()
_app = make_app(board)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] not in ("/waiting", "/release"):
        await _app(scope, receive, send)
        return
    await receive()
    if scope["path"] == "/release":
        board.release()
    body = json.dumps({"waiting": board.waiting}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
