"""The online function's ASGI app under Starlette's TestClient, with the principal in the
request context the Lambda Web Adapter forwards; SSE parsing; a scripted sleep.

A blocking or streaming wait sleeps between polls. Tests on the manual clock inject
`ScriptedSleep`: each sleep advances the clock and may first run the next step of a worker's
script (take, events, complete through the API handler), so a wait and its worker interleave
deterministically, without real time passing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from apigw import Caller
from starlette.testclient import TestClient

from taskq.clock import ManualClock
from taskq.service import QueueService
from taskq_online.app import REQUEST_CONTEXT_HEADER, create_app


def context_header(caller: Caller) -> dict[str, str]:
    """What the Lambda Web Adapter forwards: API Gateway's request context, the authorizer's inside."""
    context = {"stage": "prod", "requestId": "r-1", "authorizer": caller.authorizer_context()}
    return {REQUEST_CONTEXT_HEADER: json.dumps(context)}


class ScriptedSleep:
    """An async sleep on the manual clock that runs `steps` one per sleep, before time moves."""

    def __init__(self, clock: ManualClock, steps: list[Callable[[], Any]] | None = None) -> None:
        self.clock = clock
        self.steps = list(steps or [])
        self.slept_ms: list[int] = []

    async def __call__(self, seconds: float) -> None:
        if self.steps:
            self.steps.pop(0)()
        self.slept_ms.append(round(seconds * 1000))
        self.clock.advance(seconds)


@contextmanager
def online_client(service: QueueService, sleep=None, keep_alive_seconds: float = 15.0) -> Iterator[TestClient]:
    options: dict[str, Any] = {"keep_alive_seconds": keep_alive_seconds}
    if sleep is not None:
        options["sleep"] = sleep
    app = create_app(lambda: service, **options)
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client


def put_body(queue: str = "test-queue", **fields: Any) -> dict[str, Any]:
    from steps import CHAT, CHAT_DATA

    return {"queue": queue, "endpoint": CHAT, "data": CHAT_DATA} | fields


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Frames as an SSE client sees them (data lines joined), comments kept as {"comment": ...}."""
    frames, current, data = [], {}, []
    for line in text.split("\n"):
        if line == "":
            if data or current:
                frames.append(current | ({"data": "\n".join(data)} if data else {}))
            current, data = {}, []
        elif line.startswith(":"):
            frames.append({"comment": line[1:].strip()})
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                data.append(value)
            else:
                current[field] = value
    return frames


def worker_events(frames: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """(id, event, data) of the frames that carry a worker event."""
    return [(int(f["id"]), f["event"], f["data"]) for f in frames if "id" in f]
