"""Lease rules (spec §3.7-3.9), as pure functions of a task and the time."""

from __future__ import annotations

from enum import Enum
from typing import Any

from .models import Status, Task

# Results the system writes, under their own keys in the results table so they can never be
# mistaken for (or overwritten by) a worker's result stored under a lease id.
TIMEOUT_RESULT_KEY = "SYSTEM#timeout"
RETRIES_EXHAUSTED_RESULT_KEY = "SYSTEM#retries-exhausted"


class LeaseEnd(Enum):
    NOT_DUE = "not_due"  # nothing to do (yet): the index entry was stale, or the task moved on
    REQUEUE = "requeue"  # the lease ended and retries remain: waiting again, same start_time
    TIMEOUT = "timeout"  # the lease ended with no retries left, or the task expired


def lease_until(now: int, process_timeout: int | None, expire_time: int) -> int:
    """A lease lasts `process_timeout` seconds, or until the task expires; never past that."""
    return expire_time if process_timeout is None else min(now + process_timeout * 1000, expire_time)


def retries_remain(task: Task) -> bool:
    """`max_retries` N allows N redeliveries, N + 1 attempts in all; -1 is unlimited."""
    return task.max_retries == -1 or task.attempts <= task.max_retries


def lease_end(task: Task, now: int) -> LeaseEnd:
    """What the sweeper does with a task the sweep index says is due."""
    if task.status is Status.WAITING:
        return LeaseEnd.TIMEOUT if task.expire_time <= now else LeaseEnd.NOT_DUE
    if task.status is not Status.RUNNING or task.lease_expire_time > now:
        return LeaseEnd.NOT_DUE
    if task.expire_time > now and retries_remain(task):
        return LeaseEnd.REQUEUE
    return LeaseEnd.TIMEOUT


def timeout_result(task: Task) -> dict[str, Any]:
    return {"status_code": 408, "request_id": task.task_id}


def retries_exhausted_result(task: Task, reason: str) -> dict[str, Any]:
    return {"status_code": 500, "request_id": task.task_id, "message": "retries exhausted", "reason": reason}
