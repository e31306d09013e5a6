"""The client library against a real local server (tests/local's subprocess), sweeping every
0.2 s so an abandoned lease comes back quickly, state in memory."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from client_support import ENDPOINT, WorkerProcess

from taskq_client import Client
from tests.local.local_server_process import ServerProcess, start_server


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
