"""The two takers under test, behind one call: `take(size) -> task ids claimed`.

Each taker has its own client, as separate Lambda instances would, and a Meter on it.
"""

from __future__ import annotations

import time
from typing import Any

from taskq.clock import SystemClock
from taskq.config import TableNames
from taskq.models import Principal, Role
from taskq.requests import RegisterRequest, TakeRequest
from taskq.service import QueueService
from taskq.store import DynamoStore

from .fill import ENDPOINT
from .meter import Meter
from .naive import NaiveQueue
from .server import client_for

WORKER = Principal("ak-bench-worker", Role.WORKER)
ADMIN = Principal("ak-bench-admin", Role.ADMIN)
QUEUE_LEVEL = 0
LEASE_SECONDS = 3600  # no lease ends during a run: any task delivered twice is a duplicate


def register(endpoint: str, tables: TableNames, queue: str) -> None:
    service = QueueService(DynamoStore(client_for(endpoint), tables), SystemClock())
    service.register(ADMIN, RegisterRequest(queue=queue, endpoint=ENDPOINT))


class OurTaker:
    name = "ours"

    def __init__(self, endpoint: str, tables: TableNames, queue: str, meter: Meter) -> None:
        self.client = meter.attach(client_for(endpoint))
        self.store = DynamoStore(self.client, tables)
        self.service = QueueService(self.store, SystemClock())
        self.queue = queue

    def take(self, size: int) -> list[str]:
        request = TakeRequest(
            queues=[f"{self.queue}:{QUEUE_LEVEL}"], strategy="fifo", size=size, process_timeout=LEASE_SECONDS
        )
        answer: dict[str, list[dict[str, Any]]] = self.service.take(WORKER, request)
        return [t["task_id"] for tasks in answer.values() for t in tasks]


class NaiveTaker:
    name = "naive"

    def __init__(self, endpoint: str, tables: TableNames, queue: str, meter: Meter) -> None:
        self.client = meter.attach(client_for(endpoint))
        self.naive = NaiveQueue(self.client, tables.tasks)
        self.queue = queue

    def take(self, size: int) -> list[str]:
        now = int(time.time() * 1000)
        return [t["task_id"] for t in self.naive.take(f"{self.queue}:{QUEUE_LEVEL}", size, now)]


TAKERS = {"ours": OurTaker, "naive": NaiveTaker}
