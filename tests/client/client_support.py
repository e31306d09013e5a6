"""Helpers of the client tests (the fixtures are in conftest.py): the queue endpoint, a bounded
poll, and a worker subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.local.local_server_process import ROOT, ServerProcess, server_environment

HERE = Path(__file__).resolve().parent
ENDPOINT = "/v1/chat/completions"


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
