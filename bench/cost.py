"""Cost per task: DynamoDB requests for put, take(size=1), take(size=10) and complete.

Counted with botocore's `before-call` event on the client, on moto in-process: the count of
requests does not depend on the server, and moto has the transactions the sequential strategy
needs (dynalite has none). One listed queue (k = 1), a warm function (registration cached, and
the queue's clear marker read by an untimed first take: an instance reuses it for 2 s, see
taskq/marker_cache.py), no concurrent taker.

Our service runs on a manual clock that moves `BUSY_GAP_MS` per take: a busy worker's takes
follow each other closely, and the count must not depend on the machine's load. On the system
clock a loaded machine could let 2 s pass between two takes, and the next one would then pay the
markers' re-read, as an instance idle for 2 s does (docs/design.md "What a take reads first").
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import boto3
from moto import mock_aws

from taskq.clock import ManualClock, SystemClock
from taskq.config import TableNames
from taskq.models import Principal, Role, Strategy
from taskq.requests import PutRequest, RegisterRequest, TakeRequest
from taskq.service import QueueService
from taskq.store import DynamoStore
from taskq_local.template import create_tables

from .fill import ENDPOINT, task_item
from .meter import Meter
from .naive import NaiveQueue

TABLES = TableNames(tasks="bench-tasks", control="bench-control", results="bench-results", events="bench-events")
PRODUCER = Principal("ak-bench-producer", Role.PRODUCER)
WORKER = Principal("ak-bench-worker", Role.WORKER)
ADMIN = Principal("ak-bench-admin", Role.ADMIN)
QUEUE = "cost"
TAKES_OF_1 = 10
TAKES_OF_10 = 3
PUTS = TAKES_OF_1 + 10 * TAKES_OF_10 + 1  # + the warm-up take's
BUSY_GAP_MS = 100  # between two takes of the measured instance
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


def per_task(calls: Counter[str], tasks: int, calls_made: int = 1) -> dict[str, Any]:
    return {
        "requests_per_task": round(sum(calls.values()) / tasks, 2),
        "queries_per_call": round(calls["Query"] / calls_made, 2),
        "writes_per_task": round(sum(n for op, n in calls.items() if op in WRITES) / tasks, 2),
        "by_operation": {op: round(n / tasks, 2) for op, n in sorted(calls.items())},
    }


def _moto_client(meter: Meter) -> Any:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    create_tables(client, TABLES.by_logical_id())
    return meter.attach(client)


def ours(strategy: Strategy) -> dict[str, Any]:
    meter = Meter()
    with mock_aws():
        clock = ManualClock(SystemClock().now_ms())
        service = QueueService(DynamoStore(_moto_client(meter), TABLES), clock)
        service.register(ADMIN, RegisterRequest(queue=QUEUE, endpoint=ENDPOINT))
        before = meter.snapshot()
        for i in range(PUTS):
            service.put(PRODUCER, PutRequest(queue=QUEUE, endpoint=ENDPOINT, data={"n": i}))
        result = {"put": per_task(meter.since(before), PUTS)}

        def take(size: int) -> list[dict[str, Any]]:
            clock.advance(ms=BUSY_GAP_MS)
            request = TakeRequest(queues=[f"{QUEUE}:0"], strategy=strategy, size=size, process_timeout=600)
            return [t for tasks in service.take(WORKER, request).values() for t in tasks]

        def complete(task: dict[str, Any]) -> None:
            service.complete(WORKER, task["task_id"], {"status_code": 200}, task["lease_id"])

        take_calls: dict[int, Counter[str]] = {1: Counter(), 10: Counter()}
        taken_count = {1: 0, 10: 0}
        complete_calls: Counter[str] = Counter()
        completed = 0
        for task in take(1):  # warm-up, not counted: reads the queue's clear marker
            complete(task)
        # Sequential holds the queue's lock until the task is completed: complete after each take.
        for size, calls in ((1, TAKES_OF_1), (10, TAKES_OF_10)):
            for _ in range(calls):
                before = meter.snapshot()
                tasks = take(size)
                take_calls[size] += meter.since(before)
                taken_count[size] += len(tasks)
                before = meter.snapshot()
                for task in tasks:
                    complete(task)
                complete_calls += meter.since(before)
                completed += len(tasks)
        result["take_1"] = per_task(take_calls[1], taken_count[1], TAKES_OF_1) | {
            "tasks_per_call": taken_count[1] / TAKES_OF_1
        }
        result["take_10"] = per_task(take_calls[10], taken_count[10], TAKES_OF_10) | {
            "tasks_per_call": taken_count[10] / TAKES_OF_10
        }
        result["complete"] = per_task(complete_calls, completed)
    return result


def naive() -> dict[str, Any]:
    meter = Meter()
    with mock_aws():
        queue = NaiveQueue(_moto_client(meter), TABLES.tasks)
        now = SystemClock().now_ms()
        before = meter.snapshot()
        for i in range(PUTS):
            queue.put(task_item(QUEUE, now - PUTS + i, now, finished=False))
        result = {"put": per_task(meter.since(before), PUTS)}
        taken = []
        for size, calls, key in ((1, TAKES_OF_1, "take_1"), (10, TAKES_OF_10, "take_10")):
            before = meter.snapshot()
            batch = [t for _ in range(calls) for t in queue.take(f"{QUEUE}:0", size, now)]
            result[key] = per_task(meter.since(before), len(batch), calls) | {"tasks_per_call": len(batch) / calls}
            taken += batch
        before = meter.snapshot()
        for task in taken:
            queue.complete(task["task_id"], task["lease_id"])
        result["complete"] = per_task(meter.since(before), len(taken))
    return result


def run() -> dict[str, Any]:
    return {"ours": {s.value: ours(s) for s in Strategy}, "naive": naive()}
