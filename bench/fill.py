"""Filling a queue fast: BatchWriteItem (25 items a call) from several threads, with items
shaped exactly as the store writes them (task attributes + the index attributes of the status).

Writing 200,000 tasks through `put` would take many minutes; this writes the same items.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from taskq.config import retention_seconds
from taskq.ids import new_task_id
from taskq.models import Status, Task
from taskq.store.codec import task_attributes, to_item
from taskq.store.keys import index_attributes

from .server import client_for

BATCH = 25  # BatchWriteItem's limit
THREADS = 4
DAY_MS = 86_400_000
ENDPOINT = "/v1/chat/completions"
PRODUCER = "ak-bench-producer"


def task_item(queue: str, start_time: int, now: int, finished: bool) -> dict[str, Any]:
    """A waiting task as `put` stores it, or one as `complete` leaves it (out of both indexes)."""
    task = Task(
        task_id=new_task_id(start_time),
        ak=PRODUCER,
        queue=queue,
        level=0,
        endpoint=ENDPOINT,
        data={"prompt": "benchmark task", "n": start_time},
        status=Status.SUCCEEDED if finished else Status.WAITING,
        start_time=start_time,
        expire_time=now + DAY_MS,
        attempts=1 if finished else 0,
        completed_time=now if finished else 0,
    )
    values = task_attributes(task) | index_attributes(task)
    if finished:
        values |= {"ttl": now // 1000 + retention_seconds(), "result_lease": "LEASE-bench"}
    return to_item(values)


def _write(endpoint: str, table: str, items: list[dict[str, Any]]) -> None:
    client = client_for(endpoint, validate=False)
    for start in range(0, len(items), BATCH):
        pending = {table: [{"PutRequest": {"Item": i}} for i in items[start : start + BATCH]]}
        for attempt in range(10):
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            time.sleep(0.01 * 2**attempt)
        else:
            raise RuntimeError("BatchWriteItem left items unprocessed")


def fill_queue(endpoint: str, table: str, queue: str, waiting: int, finished: int, now: int) -> None:
    """`finished` done tasks, oldest first (they stood at the head), then `waiting` waiting ones.

    Start times step by 1 ms before `now`, so the waiting ones are takeable and in fifo order."""
    total = waiting + finished
    items = [task_item(queue, now - total - 1 + i, now, finished=i < finished) for i in range(total)]
    chunk = -(-len(items) // THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        jobs = [pool.submit(_write, endpoint, table, items[i : i + chunk]) for i in range(0, len(items), chunk)]
        for job in jobs:
            job.result()


def add_waiting(client: Any, table: str, queue: str, count: int, now: int) -> None:
    """Tops a queue up at its tail (untimed, between measured takes) to keep its depth."""
    items = [task_item(queue, now + i, now, finished=False) for i in range(count)]
    for start in range(0, count, BATCH):
        client.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": i}} for i in items[start : start + BATCH]]}
        )
