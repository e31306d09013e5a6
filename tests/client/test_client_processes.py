"""Workers as processes of their own, started with the worker command: killed mid-task
(SIGKILL) the task is redelivered and finished by another; SIGTERM drains."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from client_support import eventually

from taskq_client import Client


def started(path: Path, seconds: float = 20) -> str:
    """The `<attempt> <pid>` a handler wrote when it began (see client_handlers.sleepy)."""
    return eventually(lambda: path.read_text() if path.exists() else "", bool, seconds)


def test_a_worker_killed_mid_task_its_task_is_finished_by_another(
    admin: Client, queue: str, worker_process, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    args = ("--queue", f"{queue}:1", "--process-timeout", "2", "--max-retries", "3")
    first = worker_process("sleepy", *args)
    data = {"started": str(marker), "seconds": 60, "slow_attempts": [1]}
    task_id = admin.put(queue, data, level=1)
    assert started(marker) == f"1 {first.process.pid}\n", first.output()
    first.signal(signal.SIGKILL)
    assert first.wait(5) == -signal.SIGKILL
    second = worker_process("sleepy", *args, command="taskq-worker")
    task = admin.wait(task_id, timeout=30)
    assert task.status == "succeeded", (task, second.output())
    assert task.result["body"] == {"pid": second.process.pid, "attempt": 2}


def test_sigterm_stops_taking_finishes_running_tasks_and_gives_back_the_rest(
    admin: Client, queue: str, worker_process, tmp_path: Path
) -> None:
    worker = worker_process(
        "sleepy", "--queue", f"{queue}:1", "--concurrency", "2", "--grace", "3", "--process-timeout", "30"
    )
    short_marker, long_marker = tmp_path / "short", tmp_path / "long"
    short = admin.put(queue, {"started": str(short_marker), "seconds": 2}, level=1)
    long = admin.put(queue, {"started": str(long_marker), "seconds": 60}, level=1)
    assert started(short_marker) and started(long_marker), worker.output()
    worker.signal(signal.SIGTERM)
    signalled = time.monotonic()
    later = admin.put(queue, {"started": str(tmp_path / "later"), "seconds": 0}, level=1)
    assert worker.wait(15) == 0, worker.output()
    assert time.monotonic() - signalled < 3 + 5, "the grace period bounds the drain"
    finished, given_back, untouched = admin.get(short), admin.get(long), admin.get(later)
    assert finished.status == "succeeded" and finished.result["body"]["pid"] == worker.process.pid
    assert (given_back.status, given_back.attempts) == ("waiting", 1), "back in the queue at once, not at lease end"
    assert (untouched.status, untouched.attempts) == ("waiting", 0), "nothing taken after SIGTERM"
