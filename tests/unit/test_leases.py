"""The lease rules (spec §3.7-3.9) as pure functions of a task and the time."""

from __future__ import annotations

import pytest

from taskq.leases import LeaseEnd, lease_end, lease_until, retries_remain
from taskq.models import Status, Task

NOW = 1_000_000


def task(**changes: object) -> Task:
    base = Task(
        task_id="TASK-1",
        ak="ak-p",
        queue="q",
        level=1,
        endpoint="/e",
        data={},
        status=Status.RUNNING,
        start_time=NOW - 60_000,
        expire_time=NOW + 60_000,
        attempts=1,
        lease_id="LEASE-1",
        lease_expire_time=NOW - 1,
    )
    return Task(**(base.__dict__ | changes))


@pytest.mark.parametrize(
    ("process_timeout", "expire_time", "until"),
    [
        (None, NOW + 5_000, NOW + 5_000),  # no process_timeout: the lease lasts until the task expires
        (10, NOW + 60_000, NOW + 10_000),
        (10, NOW + 3_000, NOW + 3_000),  # never past expire_time
    ],
)
def test_a_lease_lasts_process_timeout_but_never_past_expiry(process_timeout, expire_time, until) -> None:
    assert lease_until(NOW, process_timeout, expire_time) == until


@pytest.mark.parametrize(
    ("max_retries", "attempts", "remain"),
    [
        (0, 1, False),  # no redelivery
        (1, 1, True),  # N retries allow N + 1 attempts in all
        (1, 2, False),
        (3, 3, True),
        (3, 4, False),
        (-1, 1_000, True),  # unlimited
    ],
)
def test_the_retry_budget(max_retries: int, attempts: int, remain: bool) -> None:
    assert retries_remain(task(max_retries=max_retries, attempts=attempts)) is remain


@pytest.mark.parametrize(
    ("changes", "action"),
    [
        ({"max_retries": 1}, LeaseEnd.REQUEUE),  # lease ended, a retry remains
        ({"max_retries": 0}, LeaseEnd.TIMEOUT),  # lease ended, no retry left
        ({"max_retries": -1, "expire_time": NOW}, LeaseEnd.TIMEOUT),  # retries remain but the task expired
        ({"max_retries": 1, "lease_expire_time": NOW + 1}, LeaseEnd.NOT_DUE),  # extended by a heartbeat
        ({"status": Status.WAITING, "expire_time": NOW}, LeaseEnd.TIMEOUT),  # expired while waiting
        ({"status": Status.WAITING}, LeaseEnd.NOT_DUE),  # requeued meanwhile, not expired
        ({"status": Status.SUCCEEDED}, LeaseEnd.NOT_DUE),  # completed meanwhile
        ({"status": Status.CANCELLED, "expire_time": NOW}, LeaseEnd.NOT_DUE),
    ],
)
def test_what_the_sweeper_does_with_a_due_task(changes: dict, action: LeaseEnd) -> None:
    assert lease_end(task(**changes), NOW) is action
