"""Starting `taskq serve` as a subprocess on a free port, and talking to it over HTTP.

A subprocess, not a thread: the server starts moto for the whole process, which would leak into
the functional tests' own moto sessions."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SOURCE_PATHS = [ROOT / "layers/taskq", ROOT / "functions/api", ROOT / "functions/dispatcher", ROOT / "local"]
BANNER = re.compile(r"listening on (http://\S+)")


def server_environment(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DYNAMODB_ENDPOINT"}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in SOURCE_PATHS)
    env.update(overrides)
    return env


@dataclass
class ServerProcess:
    process: subprocess.Popen
    log_path: Path
    base_url: str
    admin_key: str

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> float:
        """Signals the server and waits; returns how long it took to exit."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return time.monotonic() - started


def start_server(
    log_path: Path,
    admin_key: str = "test-admin-key",
    timeout: float = 60,
    args: tuple[str, ...] = (),
    cwd: Path = ROOT,
    **env: str,
) -> ServerProcess:
    """Starts the server on a port the OS picks and waits for its banner. Its state goes to a
    folder of its own next to the log (`<log>.data`) unless TASKQ_DATA_DIR says otherwise:
    servers never share one, nor the project's `.taskq/`."""
    if cwd == ROOT:
        env.setdefault("TASKQ_DATA_DIR", str(log_path.with_suffix(".data")))
    env = server_environment(HOST="127.0.0.1", PORT="0", TASKQ_ADMIN_KEY=admin_key, **env)
    log = log_path.open("w")
    command = [sys.executable, "-m", "taskq_local.cli", "serve", "--quiet", *args]
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = BANNER.search(log_path.read_text())
        if found:
            return ServerProcess(process, log_path, found.group(1), admin_key)
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log_path.read_text()}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the server did not start within {timeout}s:\n{log_path.read_text()}")


def http(
    method: str, url: str, body: Any = None, key: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, Message]:
    """(status, decoded JSON body or text, headers) — for any status. The headers are the
    response's own, looked up without regard to case (as HTTP names are)."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, answer_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as e:
        status, raw, answer_headers = e.code, e.read(), e.headers
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = raw.decode(errors="replace")
    return status, decoded, answer_headers
