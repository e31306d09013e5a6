"""Issue 11 point 5 through `taskq serve`: a template whose function names `TASKQ_ASGI_APP` is
served by the real server process, and 200 producers wait in it (blocking and streaming) while
a worker registers, puts, takes and completes through the real API function on the embedded
DynamoDB, each call answered promptly."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from local_server_process import ServerProcess, http, start_server

from taskq_local.template import load_template
from tests.local.test_local_asgi_load import read_answer

WAITERS = 200
TASKS = 10
PROMPT_SECONDS = 2.0
STAND_IN = Path(__file__).resolve().parent  # online_stand_in.py
ROUTES = {"Wait": ("/wait", "GET"), "Stream": ("/stream", "GET"), "Waiting": ("/waiting", "GET")}
ROUTES["Release"] = ("/release", "POST")


def template_with_the_stand_in(path: Path) -> Path:
    """template.yaml plus a stand-in ASGI function declared as the online function is (the real
    online function keeps serving puts)."""
    template = load_template()
    events = {
        name: {"Type": "Api", "Properties": {"RestApiId": "Api", "Path": route, "Method": method}}
        for name, (route, method) in ROUTES.items()
    }
    template["Resources"]["WaitingStandInFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": str(STAND_IN),
            "Handler": "run.sh",
            "Environment": {"Variables": {"TASKQ_ASGI_APP": "online_stand_in:app"}},
            "Events": events,
        },
    }
    path.write_text(yaml.safe_dump(template))
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    template = template_with_the_stand_in(tmp_path / "template.yaml")
    server = start_server(tmp_path / "server.log", admin_key="asgi-admin", TASKQ_LOCAL_TEMPLATE=str(template))
    yield server
    server.stop()


def timed(method: str, url: str, body=None, key=None, headers=None):
    started = time.monotonic()
    status, answer, _ = http(method, url, body, key, headers)
    return status, answer, time.monotonic() - started


@pytest.mark.slow
def test_200_producers_wait_in_an_asgi_function_while_a_worker_takes_and_completes(server: ServerProcess):
    base, key = server.base_url, server.admin_key
    address = (urlsplit(base).hostname or "", urlsplit(base).port or 0)
    paths = ["/wait" if n % 2 else "/stream" for n in range(WAITERS)]
    clients = []
    for path in paths:
        client = socket.create_connection(address, timeout=60)
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n".encode())
        clients.append(client)
    deadline = time.monotonic() + 60
    while http("GET", f"{base}/waiting", key=key)[1]["waiting"] < WAITERS and time.monotonic() < deadline:
        time.sleep(0.1)
    assert http("GET", f"{base}/waiting", key=key)[1] == {"waiting": WAITERS}

    queue = f"asgi-{uuid.uuid4().hex[:8]}"
    calls = [timed("POST", f"{base}/v1/queue/register", {"queue": queue, "endpoint": "/v1/x"}, key)]
    calls += [
        timed("POST", f"{base}/v1/queue/put", {"queue": queue, "endpoint": "/v1/x", "data": {"n": n}}, key)
        for n in range(TASKS)
    ]
    taken = timed("POST", f"{base}/v1/queue/take", {"queues": [f"{queue}:0"], "size": TASKS}, key)
    calls.append(taken)
    tasks = taken[1][f"{queue}:0"]
    for task in tasks:
        url = f"{base}/v1/queue/{task['task_id']}/complete"
        result = {"status_code": 200, "body": task["data"]}
        calls.append(timed("POST", url, result, key, {"X-Lease-Id": task["lease_id"]}))

    assert len(tasks) == TASKS and len(calls) == 2 + 2 * TASKS  # register, puts, take, completes
    assert [status for status, _, _ in calls] == [200] * len(calls)
    assert max(seconds for _, _, seconds in calls) < PROMPT_SECONDS
    assert http("GET", f"{base}/waiting", key=key)[1] == {"waiting": WAITERS}

    assert http("POST", f"{base}/release", {}, key)[0] == 200
    bodies = [read_answer(client, path) for client, path in zip(clients, paths, strict=True)]
    for client in clients:
        client.close()
    assert bodies.count(b'{"answer": 42}') == WAITERS // 2
    assert bodies.count(b"id: 1\ndata: first\n\nid: 2\ndata: last\n\n") == WAITERS // 2
