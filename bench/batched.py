"""Requests per task with the batched routes (issue 14): API Gateway requests (one per route call)
and DynamoDB requests, for a task's whole life (put, take, complete), single routes vs batched.

A mix is (put size, take size, complete size): `single` is put / take(10) / complete, the issue's
`batched` is put-batch 100 / take 10 / complete-batch 10 (one complete-batch per take); the other
mixes show what larger batches buy. Counted on moto in-process like the cost section (the count
of requests does not depend on the server; put-batch needs transactions, which dynalite lacks),
one queue, a warm instance, no concurrent taker, a manual clock (cost.py says why).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from moto import mock_aws

from taskq import batched
from taskq.clock import ManualClock, SystemClock
from taskq.requests import PutRequest, RegisterRequest, TakeRequest
from taskq.service import QueueService
from taskq.store import DynamoStore

from .cost import ADMIN, BUSY_GAP_MS, PRODUCER, TABLES, WORKER, WRITES, _moto_client
from .fill import ENDPOINT
from .meter import Meter

TASKS = 500  # figures are per task and exact: more tasks change nothing but the run time
QUEUE = "batched"
# name -> (put size, take size, complete size); a size of 1 is the single route.
MIXES = {
    "single": (1, 10, 1),
    "batched": (100, 10, 10),
    "batched_complete_100": (100, 10, 100),
    "batched_100": (100, 100, 100),
}
PHASES = ("put", "take", "complete")


def _figures(api: Counter[str], calls: dict[str, Counter[str]], tasks: int) -> dict[str, Any]:
    total = sum(calls.values(), Counter())
    return {
        "api_requests_per_task": round(sum(api.values()) / tasks, 3),
        "dynamodb_requests_per_task": round(total.total() / tasks, 3),
        "dynamodb_writes_per_task": round(sum(n for op, n in total.items() if op in WRITES) / tasks, 3),
        "by_phase": {
            phase: {
                "api_requests_per_task": round(api[phase] / tasks, 3),
                "dynamodb_requests_per_task": round(calls[phase].total() / tasks, 3),
                "by_operation": {op: round(n / tasks, 3) for op, n in sorted(calls[phase].items())},
            }
            for phase in PHASES
        },
    }


def measure(put_size: int, take_size: int, complete_size: int, tasks: int) -> dict[str, Any]:
    meter = Meter()
    api: Counter[str] = Counter()
    calls: dict[str, Counter[str]] = {phase: Counter() for phase in PHASES}
    with mock_aws():
        clock = ManualClock(SystemClock().now_ms())
        service = QueueService(DynamoStore(_moto_client(meter), TABLES), clock)
        service.register(ADMIN, RegisterRequest(queue=QUEUE, endpoint=ENDPOINT))

        def counted(phase: str, action: Any) -> Any:
            before = meter.snapshot()
            value = action()
            calls[phase] += meter.since(before)
            api[phase] += 1
            return value

        def put(count: int) -> None:
            bodies = [{"queue": QUEUE, "endpoint": ENDPOINT, "data": {"n": n}} for n in range(count)]
            if put_size == 1:
                for body in bodies:
                    counted("put", lambda body=body: service.put(PRODUCER, PutRequest(**body)))
            else:
                for start in range(0, count, put_size):
                    counted("put", lambda s=start: batched.put_batch(service, PRODUCER, bodies[s : s + put_size]))

        def take() -> list[dict[str, Any]]:
            clock.advance(ms=BUSY_GAP_MS)
            request = TakeRequest(queues=[f"{QUEUE}:0"], size=take_size, process_timeout=600)
            return [t for tasks in service.take(WORKER, request).values() for t in tasks]

        def complete(done: list[dict[str, Any]]) -> None:
            items = [{"task_id": t["task_id"], "lease_id": t["lease_id"], "result": {}} for t in done]
            if complete_size == 1:
                for i in items:
                    counted("complete", lambda i=i: service.complete(WORKER, i["task_id"], {}, i["lease_id"]))
                return
            answer = counted("complete", lambda: batched.complete_batch(service, WORKER, items))
            assert all(entry["code"] == 200 for entry in answer), answer

        service.put(PRODUCER, PutRequest(queue=QUEUE, endpoint=ENDPOINT, data={}))  # warm-up, not counted
        for task in take():
            service.complete(WORKER, task["task_id"], {}, task["lease_id"])
        put(tasks)
        pending: list[dict[str, Any]] = []
        completed = 0
        while completed < tasks:
            got = counted("take", take)
            assert got, f"the queue ran dry after {completed} of {tasks} tasks"
            pending += got
            # complete-batch gathers `complete_size` tasks (over several takes when it is larger)
            while len(pending) >= complete_size or (pending and completed + len(pending) >= tasks):
                done, pending = pending[:complete_size], pending[complete_size:]
                complete(done)
                completed += len(done)
    return {"sizes": {"put": put_size, "take": take_size, "complete": complete_size}} | _figures(api, calls, tasks)


def run(tasks: int = TASKS) -> dict[str, Any]:
    return {"tasks": tasks} | {name: measure(*sizes, tasks) for name, sizes in MIXES.items()}


def render(b: dict[str, Any], table: Any) -> str:
    rows = []
    for name, sizes in MIXES.items():
        f = b[name]
        phases = [
            f"{f['by_phase'][p]['api_requests_per_task']}/{f['by_phase'][p]['dynamodb_requests_per_task']}"
            for p in PHASES
        ]
        rows.append(
            [name, "/".join(map(str, sizes)), f["api_requests_per_task"], *phases, f["dynamodb_requests_per_task"]]
        )
    head = [
        "mix",
        "put/take/complete size",
        "API req/task",
        "put API/DDB",
        "take API/DDB",
        "complete API/DDB",
        "DDB req/task",
    ]
    return f"Batched routes: requests per task over {b['tasks']} tasks (one queue, warm)\n" + table(head, rows)
