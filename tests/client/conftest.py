"""The client library against a real local server (tests/local's subprocess), sweeping every
0.2 s so an abandoned lease comes back quickly, state in memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from taskq_client import Client
from tests.local.local_server_process import ROOT, ServerProcess, server_environment, start_server

HERE = Path(__file__).resolve().parent
ENDPOINT = "/v1/chat/completions"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("client") / "server.log"
    process = start_server(log, admin_key="client-admin-key", TASKQ_SWEEP_INTERVAL="0.2", TASKQ_DATA_DIR="")
    yield process
    process.stop()


@pytest.fixture
def admin(server: ServerProcess) -> Iterator[Client]:
    with Client(server.base_url, server.admin_key) as client:
        yield client


@pytest.fixture
def queue(admin: Client) -> str:
    """A queue of this test's own, registered."""
    name = f"client-{uuid.uuid4().hex[:10]}"
    admin.register(name, ENDPOINT)
    return name


def eventually(read: Callable[[], Any], until: Callable[[Any], bool], seconds: float = 10.0) -> Any:
    """Reads until `until` holds; the last reading (the caller asserts on it)."""
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if until(value) or time.monotonic() >= deadline:
            return value
        time.sleep(0.05)


class WorkerProcess:
    """`taskq worker client_handlers:<name> ...` as a subprocess of its own (so it can be killed)."""

    def __init__(self, server: ServerProcess, target: str, *args: str, log: Path, command: str = "taskq") -> None:
        env = server_environment(TASKQ_URL=server.base_url, TASKQ_API_KEY=server.admin_key)
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), env["PYTHONPATH"]])
        program = ["-m", "taskq_local.cli", "worker"] if command == "taskq" else ["-m", "taskq_client.cli"]
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, *program, f"client_handlers:{target}", *args],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def output(self) -> str:
        return self.log.read_text()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def worker_process(server: ServerProcess, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(target: str, *args: str, command: str = "taskq") -> WorkerProcess:
        worker = WorkerProcess(server, target, *args, log=tmp_path / f"worker-{len(started)}.log", command=command)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.close()
