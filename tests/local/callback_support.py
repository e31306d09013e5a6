"""A callback receiver on 127.0.0.1 and a small API client, for the tests that drive callbacks
and counters through a real local server."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local_server_process import ServerProcess, http

ENDPOINT = "/v1/chat/completions"


class Receiver(ThreadingHTTPServer):
    """Answers POST /<script>/... with the script's next status (then 200), and records each."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scripts: dict[str, list[int]] = {}
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def url(self, script: str) -> str:
        return f"http://127.0.0.1:{self.server_port}/{script}/hook"

    def for_task(self, task_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.received if r["task_id"] == task_id]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        script = self.path.strip("/").split("/")[0]
        with self.server.lock:
            answers = self.server.scripts.get(script, [])
            status = answers.pop(0) if answers else 200
            self.server.received.append(
                {
                    "task_id": self.headers["X-Task-Id"],
                    "task_status": self.headers["X-Task-Status"],
                    "body": body,
                    "answered": status,
                    "at": time.monotonic(),
                }
            )
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    server = Receiver()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class Client:
    def __init__(self, server: ServerProcess) -> None:
        self.base, self.key = server.base_url, server.admin_key
        self.queue = f"cb-{uuid.uuid4().hex[:8]}"
        assert self.call("POST", "/v1/queue/register", {"queue": self.queue, "endpoint": ENDPOINT})[0] == 200

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
        status, answer, _ = http(method, f"{self.base}{path}", body, self.key, headers)
        return status, answer

    def put(self, headers: dict[str, str] | None = None, **fields: Any) -> str:
        body = {"queue": self.queue, "endpoint": ENDPOINT, "data": {}} | fields
        status, answer = self.call("POST", "/v1/queue/put", body, headers)
        assert status == 200, answer
        return answer["data"]

    def take(self, size: int) -> list[dict[str, Any]]:
        status, answer = self.call("POST", "/v1/queue/take", {"queues": [f"{self.queue}:0"], "size": size})
        assert status == 200, answer
        return answer.get(f"{self.queue}:0", [])

    def complete(self, task: dict[str, Any], result: dict[str, Any]) -> None:
        path = f"/v1/queue/{task['task_id']}/complete"
        assert self.call("POST", path, result, {"X-Lease-Id": task["lease_id"]})[0] == 200

    def stats(self) -> dict[str, Any]:
        return self.call("GET", f"/v1/queue/{self.queue}:0/stats")[1]


def wait_for(condition: Callable[[], Any], seconds: float) -> Any:
    """Polls until `condition()` is truthy; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {condition.__doc__ or condition}")
