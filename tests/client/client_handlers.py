"""Handlers the worker subprocesses of the tests run (`taskq worker client_handlers:<name>`)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from taskq_client import Task, TaskContext


def sleepy(task: Task, ctx: TaskContext) -> dict[str, Any]:
    """Marks `data.started` (a file) with its attempt, sleeps `data.seconds` on the attempts
    listed in `data.slow_attempts` (default: all), and answers who finished it."""
    Path(task.data["started"]).write_text(f"{task.attempts} {os.getpid()}\n")
    if task.attempts in task.data.get("slow_attempts", [task.attempts]):
        time.sleep(task.data["seconds"])
    return {"pid": os.getpid(), "attempt": task.attempts}
