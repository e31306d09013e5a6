"""Concurrent workers against a DynamoDB server process, recording every grant and completion.

Each worker is its own QueueService with its own client, as separate Lambda instances would
be. Some workers "crash": they abandon a task they were granted without completing it, so only
the lease's end can bring it back. A sweeper thread runs alongside, as the schedule would.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from taskq.clock import SystemClock
from taskq.config import TableNames
from taskq.errors import Conflict
from taskq.models import Principal, Role
from taskq.requests import PutRequest, RegisterRequest, ShardsRequest, TakeRequest
from taskq.service import QueueService
from taskq.store import DynamoStore
from taskq.sweeper import Sweeper
from tests.servers import client_for

WORKER = Principal("ak-worker", Role.WORKER)
PRODUCER = Principal("ak-producer", Role.PRODUCER)
ADMIN = Principal("ak-admin", Role.ADMIN)


def service_on(endpoint: str, tables: TableNames) -> QueueService:
    return QueueService(DynamoStore(client_for(endpoint), tables), SystemClock())


@dataclass(frozen=True)
class Grant:
    task_id: str
    queue: str
    lease_id: str
    attempt: int  # the task's claim count: orders one task's grants as DynamoDB granted them
    granted_at: int  # ms, right after take returned
    lease_expire_time: int
    ended_at: int  # ms: just before complete was called, or the lease end for an abandoned task
    abandoned: bool

    @property
    def held_until(self) -> int:
        """The worker lets go when it calls complete, or when its lease ends, whichever is first."""
        return min(self.ended_at, self.lease_expire_time)


@dataclass
class Record:
    grants: list[Grant] = field(default_factory=list)
    completions: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # task -> leases accepted
    errors: list[BaseException] = field(default_factory=list)  # a thread's crash ends the run at once
    timed_out: bool = False  # the deadline ended the run before every expected task was completed
    lock: threading.Lock = field(default_factory=threading.Lock)

    def grants_by_task(self) -> dict[str, list[Grant]]:
        by_task: dict[str, list[Grant]] = defaultdict(list)
        for grant in sorted(self.grants, key=lambda g: g.attempt):
            by_task[grant.task_id].append(grant)
        return by_task


def put_tasks(endpoint: str, tables: TableNames, queues: list[str], count: int, shards: int = 1) -> list[str]:
    """`count` tasks at level 1 of `queues`, in turn; with `shards`, each queue's level 1 is
    raised to that many ready shards first."""
    service = service_on(endpoint, tables)
    for name in queues:
        service.register(ADMIN, RegisterRequest(queue=name, endpoint="/v1/chat/completions"))
        if shards > 1:
            service.raise_shards(ADMIN, f"{name}:1", ShardsRequest(shards=shards))
    return [
        service.put(
            PRODUCER,
            PutRequest(queue=queues[i % len(queues)], endpoint="/v1/chat/completions", level=1, data={"n": i}),
        )
        for i in range(count)
    ]


def run_workers(
    endpoint: str,
    tables: TableNames,
    take: TakeRequest,
    expected: int,
    *,
    workers: int = 8,
    crash_rate: float = 0.1,
    deadline_s: float = 120,
) -> Record:
    """Runs `workers` threads until `expected` tasks were completed, or the deadline passes."""
    record = Record()
    done = threading.Event()
    clock = SystemClock()

    def completed_count() -> int:
        with record.lock:
            return sum(len(leases) for leases in record.completions.values())

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        service = service_on(endpoint, tables)
        while not done.is_set():
            taken = service.take(WORKER, take)
            granted_at = clock.now_ms()
            tasks = [t for queue_tasks in taken.values() for t in queue_tasks]
            if not tasks:
                time.sleep(0.02)
                continue
            for task in tasks:
                abandon = rng.random() < crash_rate
                ended_at = task["lease_expire_time"] if abandon else clock.now_ms()
                grant = Grant(
                    task_id=task["task_id"],
                    queue=task["queue"],
                    lease_id=task["lease_id"],
                    attempt=task["attempts"],
                    granted_at=granted_at,
                    lease_expire_time=task["lease_expire_time"],
                    ended_at=ended_at,
                    abandoned=abandon,
                )
                with record.lock:
                    record.grants.append(grant)
                if abandon:
                    continue
                try:
                    service.complete(WORKER, task["task_id"], {"status_code": 200}, task["lease_id"])
                except Conflict:
                    continue  # our lease was replaced: someone else owns the task now
                with record.lock:
                    record.completions[task["task_id"]].append(task["lease_id"])
            if completed_count() >= expected:
                done.set()

    def sweeper() -> None:
        sweep = Sweeper(DynamoStore(client_for(endpoint), tables), clock)
        while not done.wait(0.2):
            sweep.sweep()

    def reporting(target, *args: object):
        def run() -> None:
            try:
                target(*args)
            except BaseException as error:
                record.errors.append(error)
                done.set()

        return run

    threads = [threading.Thread(target=reporting(worker, seed), daemon=True) for seed in range(workers)]
    threads.append(threading.Thread(target=reporting(sweeper), daemon=True))
    for thread in threads:
        thread.start()
    record.timed_out = not done.wait(deadline_s)
    done.set()
    for thread in threads:
        thread.join(timeout=30)
    assert record.errors == [], f"a worker or the sweeper crashed: {record.errors!r}"
    return record
