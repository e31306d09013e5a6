"""End to end: `taskq serve` as a subprocess, the real handler on embedded moto, driven over HTTP."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid

import pytest
from local_server_process import ServerProcess, http, server_environment, start_server

from taskq_local.processes import free_port

ENDPOINT = "/v1/chat/completions"


def unique_queue() -> str:
    return f"q-{uuid.uuid4().hex[:10]}"


def test_health_and_openapi_need_no_key(local_server: ServerProcess):
    assert http("GET", f"{local_server.base_url}/health")[:2] == (200, {"status": "ok"})
    status, document, headers = http("GET", f"{local_server.base_url}/openapi.json")
    assert status == 200 and "/v1/queue/take" in document["paths"]
    assert headers["Content-Type"].startswith("application/json")


def test_v1_needs_the_admin_key(local_server: ServerProcess):
    for key in (None, "not-the-key"):
        status, body, _ = http("POST", f"{local_server.base_url}/v1/queue/register", {"queue": "x"}, key=key)
        assert status == 401 and body["code"] == 401


def test_unknown_route_is_404_with_the_error_body(local_server: ServerProcess):
    status, body, _ = http("GET", f"{local_server.base_url}/v1/nowhere?a=1&a=2", key=local_server.admin_key)
    assert status == 404 and body["code"] == 404


def test_register_put_take_complete_get(local_server: ServerProcess):
    base, key, queue = local_server.base_url, local_server.admin_key, unique_queue()
    assert http("POST", f"{base}/v1/queue/register", {"queue": queue, "endpoint": ENDPOINT}, key)[:2] == (200, queue)
    status, put, _ = http("POST", f"{base}/v1/queue/put", {"queue": queue, "endpoint": ENDPOINT, "data": {"n": 1}}, key)
    assert status == 200 and put["data"].startswith("TASK-")
    task_id = put["data"]
    status, taken, _ = http("POST", f"{base}/v1/queue/take", {"queues": [f"{queue}:0"], "size": 10}, key)
    assert status == 200 and [t["task_id"] for t in taken[f"{queue}:0"]] == [task_id]
    lease = taken[f"{queue}:0"][0]["lease_id"]
    result = {"status_code": 200, "body": {"answer": 42}}
    stale = http("POST", f"{base}/v1/queue/{task_id}/complete", result, key, {"X-Lease-Id": "LEASE-stale"})
    assert stale[0] == 409
    done = http("POST", f"{base}/v1/queue/{task_id}/complete", result, key, {"X-Lease-Id": lease})
    assert done[:2] == (200, task_id)
    status, task, _ = http("GET", f"{base}/v1/queue/{task_id}", key=key)
    assert status == 200 and task["status"] == "succeeded" and task["result"] == result


def test_bad_input_is_a_4xx_with_the_error_body(local_server: ServerProcess):
    base, key = local_server.base_url, local_server.admin_key
    status, body, _ = http("POST", f"{base}/v1/queue/take", b"{not json", key)
    assert status == 400 and body["code"] == 400
    unregistered = {"queue": unique_queue(), "endpoint": ENDPOINT, "data": {}}
    status, body, _ = http("POST", f"{base}/v1/queue/put", unregistered, key)
    assert status == 404 and body["code"] == 404  # not registered


def test_sigterm_and_sigint_stop_the_server_within_two_seconds(tmp_path):
    for sig in (signal.SIGTERM, signal.SIGINT):
        server = start_server(tmp_path / f"{sig.name}.log")
        assert http("GET", f"{server.base_url}/health")[0] == 200
        assert server.stop(sig) < 2
        assert server.process.returncode == 0


def test_generated_admin_key_is_printed_and_works(tmp_path):
    server = start_server(tmp_path / "generated.log", admin_key="")
    try:
        key = server.log().split("admin key: ")[1].split()[0]
        assert len(key) >= 40  # secrets.token_urlsafe(32)
        assert "generated" in server.log()
        assert http("GET", f"{server.base_url}/v1/queue/TASK-x", key=key)[0] == 404  # authorized; no such task
    finally:
        server.stop()


def test_port_in_use_is_reported(tmp_path, local_server: ServerProcess):
    port = local_server.base_url.rsplit(":", 1)[1]
    command = [sys.executable, "-m", "taskq_local.cli", "serve", "--port", port]
    done = subprocess.run(command, env=server_environment(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "cannot listen" in done.stderr


@pytest.fixture
def moto_endpoint(tmp_path):
    """A separate DynamoDB-compatible endpoint: moto's own server, in its own process."""
    port = free_port()
    log = (tmp_path / "moto.log").open("w")
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if http("GET", f"{url}/moto-api/")[0] < 500:
                break
        except OSError:
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(10)


def test_external_dynamodb_endpoint_gets_the_tables_and_serves(tmp_path, moto_endpoint):
    for attempt in ("creates", "reuses"):
        server = start_server(tmp_path / f"{attempt}.log", DYNAMODB_ENDPOINT=moto_endpoint)
        try:
            assert moto_endpoint in server.log()
            base, key, queue = server.base_url, server.admin_key, f"ext-{attempt}"
            assert http("POST", f"{base}/v1/queue/register", {"queue": queue, "endpoint": ENDPOINT}, key)[0] == 200
            put = {"queue": queue, "endpoint": ENDPOINT, "data": {}}
            assert http("POST", f"{base}/v1/queue/put", put, key)[0] == 200
        finally:
            server.stop()
    # The second server found the first one's data: both used the endpoint's tables.
    server = start_server(tmp_path / "check.log", DYNAMODB_ENDPOINT=moto_endpoint)
    try:
        status, body, _ = http("GET", f"{server.base_url}/v1/queue/ext-creates/metadata", key=server.admin_key)
        assert status == 200 and body["endpoint"] == ENDPOINT
    finally:
        server.stop()
