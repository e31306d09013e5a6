"""Tasks and leases as the service would write them, for the store conformance tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from taskq.clock import ManualClock
from taskq.ids import new_lease_id, new_task_id
from taskq.models import QueueLevel, Status, Task
from taskq.store import DynamoStore, Lease

CHAT = "/v1/chat/completions"
Q = QueueLevel("conformance", 0)
HOUR_MS = 3_600_000


def waiting_task(clock: ManualClock, queue: QueueLevel = Q, **changes: Any) -> Task:
    """A waiting task put now (its id and start_time from the clock), expiring in an hour."""
    now = clock.now_ms()
    task = Task(
        task_id=new_task_id(now),
        ak="ak-producer-0001",
        queue=queue.name,
        level=queue.level,
        endpoint=CHAT,
        data={"prompt": "hello"},
        status=Status.WAITING,
        start_time=now,
        expire_time=now + HOUR_MS,
    )
    return replace(task, **changes)


def put_waiting(store: DynamoStore, clock: ManualClock, count: int = 1, **changes: Any) -> list[Task]:
    """`count` waiting tasks, put 1 ms apart (so their fifo order is their put order)."""
    tasks = []
    for _ in range(count):
        task = waiting_task(clock, **changes)
        store.put_task(task, None, clock.now_ms())
        tasks.append(task)
        clock.advance(ms=1)
    return tasks


def lease(clock: ManualClock, seconds: int = 60) -> Lease:
    return Lease(new_lease_id(), clock.now_ms() + seconds * 1000, process_timeout=seconds, max_retries=0)
