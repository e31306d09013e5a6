"""The batched routes (spec §3.13) under real concurrency, each caller its own service and client
as separate Lambda instances would be.

put-batch writes with TransactWriteItems, which dynalite lacks: it runs against moto's server
answering one request at a time. complete-batch is single-item conditional writes (its own
thread pool included): dynalite.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from taskq import batched
from taskq.models import Principal, Role
from taskq.requests import RegisterRequest, TakeRequest
from tests.concurrency.harness import ADMIN, PRODUCER, WORKER, put_tasks, service_on
from tests.servers import client_for, tables_on

pytestmark = pytest.mark.slow

CALLERS = 4


def test_the_same_keyed_batch_sent_at_once_makes_one_task_per_key(moto_server_endpoint: str) -> None:
    # Given a batch of 20 items, 15 of them keyed
    tables = tables_on(moto_server_endpoint)
    service_on(moto_server_endpoint, tables).register(ADMIN, RegisterRequest(queue="race", endpoint="/v1/x"))
    items = [
        {"queue": "race", "endpoint": "/v1/x", "data": {"n": n}} | ({"idempotency_key": f"k-{n}"} if n % 4 else {})
        for n in range(20)
    ]

    # When four instances send it at the same time (a client's retries racing its first send)
    with ThreadPoolExecutor(CALLERS) as pool:
        answers = list(
            pool.map(lambda _: batched.put_batch(service_on(moto_server_endpoint, tables), PRODUCER, items), range(4))
        )

    # Then every keyed item answers one task id everywhere; each unkeyed item made a task per send
    for n in range(20):
        ids = {answer[n]["task_id"] for answer in answers}
        assert len(ids) == (1 if n % 4 else CALLERS), (n, answers)
    stored = client_for(moto_server_endpoint).scan(TableName=tables.tasks, Select="COUNT")["Count"]
    assert stored == 15 + 5 * CALLERS


def test_complete_batches_racing_over_the_same_tasks_finish_each_once(dynalite_endpoint: str) -> None:
    # Given 40 tasks running under one worker's leases
    tables = tables_on(dynalite_endpoint)
    task_ids = put_tasks(dynalite_endpoint, tables, ["race"], 40)
    taken = service_on(dynalite_endpoint, tables).take(WORKER, TakeRequest(queues=["race:1"], size=40))["race:1"]
    assert sorted(t["task_id"] for t in taken) == sorted(task_ids)

    # When four instances complete all of them at once, each in its own order with its own result
    def complete_all(caller: int) -> list[dict]:
        items = [{"task_id": t["task_id"], "lease_id": t["lease_id"], "result": {"by": caller}} for t in taken]
        random.Random(caller).shuffle(items)
        return batched.complete_batch(service_on(dynalite_endpoint, tables), WORKER, items)

    with ThreadPoolExecutor(CALLERS) as pool:
        answers = list(pool.map(complete_all, range(CALLERS)))

    # Then every item is acknowledged (one wrote, the others are the idempotent repeat) and each
    # task holds one caller's result
    assert {entry["code"] for answer in answers for entry in answer} == {200}
    reader = service_on(dynalite_endpoint, tables)
    admin = Principal("ak-admin", Role.ADMIN)
    for task_id in task_ids:
        task = reader.get(admin, task_id)
        assert task["status"] == "succeeded" and task["result"]["by"] in range(CALLERS), task
