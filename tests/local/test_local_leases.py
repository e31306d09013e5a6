"""Leases end to end (spec §3.7, §3.9, §5): `taskq serve` as a subprocess sweeping every 0.2 s, driven
over HTTP with real time. An abandoned task comes back, then times out; a heartbeat keeps it.

Every wait is a bounded poll; no fixed long sleep."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from local_server_process import ServerProcess, http, start_server

ENDPOINT = "/v1/chat/completions"
POLL_LIMIT_SECONDS = 5.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("leases") / "server.log"
    process = start_server(log, admin_key="leases-admin-key", TASKQ_SWEEP_INTERVAL="0.2")
    yield process
    process.stop()


class Client:
    def __init__(self, server: ServerProcess) -> None:
        self.base, self.key = server.base_url, server.admin_key
        self.queue = f"lease-{uuid.uuid4().hex[:10]}"

    def send(self, method: str, path: str, body: Any = None, lease: str | None = None) -> tuple[int, Any]:
        headers = None if lease is None else {"X-Lease-Id": lease}
        return http(method, f"{self.base}{path}", body, self.key, headers)[:2]

    def put(self) -> str:
        assert self.send("POST", "/v1/queue/register", {"queue": self.queue, "endpoint": ENDPOINT})[0] == 200
        status, answer = self.send("POST", "/v1/queue/put", {"queue": self.queue, "endpoint": ENDPOINT, "data": {}})
        assert status == 200, answer
        return answer["data"]

    def take(self, **fields: Any) -> dict[str, Any]:
        body = {"queues": [f"{self.queue}:0"], "size": 1} | fields
        status, answer = self.send("POST", "/v1/queue/take", body)
        assert status == 200 and len(answer[f"{self.queue}:0"]) == 1, answer
        return answer[f"{self.queue}:0"][0]

    def get(self, task_id: str) -> dict[str, Any]:
        status, task = self.send("GET", f"/v1/queue/{task_id}")
        assert status == 200, task
        return task


def poll(read: Callable[[], dict[str, Any]], until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Reads until `until` holds or POLL_LIMIT_SECONDS pass; returns the last reading."""
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while True:
        value = read()
        if until(value) or time.monotonic() >= deadline:
            return value
        time.sleep(0.05)


def test_an_abandoned_task_comes_back_then_times_out(server: ServerProcess) -> None:
    client = Client(server)
    task_id = client.put()

    # Given a worker that took the task with a 1 s lease and one retry, then died
    first = client.take(process_timeout=1, process_max_retries=1)
    assert (first["task_id"], first["attempts"]) == (task_id, 1)
    assert client.get(task_id)["status"] == "running"

    # Then the sweeper gives it back once the lease ends, in its place
    task = poll(lambda: client.get(task_id), lambda t: t["status"] != "running")
    assert (task["status"], task["attempts"], task["start_time"]) == ("waiting", 1, first["start_time"])

    # And a new take gets it under a new lease
    second = client.take(process_timeout=1, process_max_retries=1)
    assert (second["task_id"], second["attempts"]) == (task_id, 2)
    assert second["lease_id"] != first["lease_id"]

    # When that worker dies too, the task ends timeout with the 408 result
    task = poll(lambda: client.get(task_id), lambda t: t["status"] != "running")
    assert (task["status"], task["attempts"]) == ("timeout", 2)
    assert task["result"] == {"status_code": 408, "request_id": task_id}
    assert client.send("POST", "/v1/queue/take", {"queues": [f"{client.queue}:0"], "size": 1}) == (200, {})


def test_heartbeats_keep_a_lease_alive_past_its_first_end(server: ServerProcess) -> None:
    client = Client(server)
    task_id = client.put()
    taken = client.take(process_timeout=3)  # no retries: a lapsed lease would end the task timeout
    lease = taken["lease_id"]

    # When the worker heartbeats five times, 1 s apart: at least 5 s, well past the 3 s lease
    # (counted in beats, not in seconds: on a loaded machine a beat may take longer, and the 2 s
    # of slack per beat keeps a slow answer from lapsing the lease)
    started = time.monotonic()
    for _ in range(5):
        time.sleep(1)
        status, answer = client.send("POST", f"/v1/queue/{task_id}/heartbeat", None, lease)
        assert status == 200, answer
        assert answer["task_id"] == task_id and answer["lease_expire_time"] > taken["lease_expire_time"]
    assert time.monotonic() - started >= 5

    # Then the task is still running under the same lease, and completes
    task = client.get(task_id)
    assert (task["status"], task["lease_id"], task["attempts"]) == ("running", lease, 1)
    result = {"status_code": 200, "body": {"answer": 42}}
    assert client.send("POST", f"/v1/queue/{task_id}/complete", result, lease) == (200, task_id)
    task = client.get(task_id)
    assert (task["status"], task["result"]) == ("succeeded", result)
