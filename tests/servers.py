"""DynamoDB server processes for tests that need real concurrency: dynalite (npm) and moto's
server mode. Each starts on a free loopback port with the template's tables."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from taskq.config import TableNames
from taskq_local.template import create_tables

ROOT = Path(__file__).resolve().parents[1]
DYNALITE = ROOT / "node_modules" / "dynalite" / "cli.js"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout} s")


def client_for(endpoint: str):
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")


def tables_on(endpoint: str) -> TableNames:
    """Fresh, uniquely named tables from template.yaml on the server at `endpoint`, without the
    Tasks stream: nothing reads it here (see create_tables)."""
    suffix = uuid.uuid4().hex[:8]
    names = TableNames(tasks=f"tasks-{suffix}", control=f"control-{suffix}", results=f"results-{suffix}")
    create_tables(
        client_for(endpoint),
        {"TasksTable": names.tasks, "ControlTable": names.control, "ResultsTable": names.results},
        streams=False,
    )
    return names


@contextlib.contextmanager
def running(command: list[str], port: int) -> Iterator[str]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


def dynalite_command(port: int) -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("SKIPPED: node is not installed, so the dynalite concurrency suite did not run")
    if not DYNALITE.exists():
        pytest.skip("SKIPPED: dynalite is not installed (run `npm ci`), so the dynalite suite did not run")
    return [node, str(DYNALITE), "--port", str(port)]


def serial_moto_server_command(port: int) -> list[str]:
    return [sys.executable, str(ROOT / "tests" / "serial_moto_server.py"), str(port)]
