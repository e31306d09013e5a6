"""8 concurrent workers take and complete 200 tasks through the local server: each task is
delivered exactly once and none is lost (the embedded store's conditional writes stay atomic)."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from local_server_process import ServerProcess, http

TASKS = 200
WORKERS = 8
DEADLINE_SECONDS = 180


@pytest.mark.slow
def test_eight_workers_take_and_complete_200_tasks_exactly_once(local_server: ServerProcess):
    base, key = local_server.base_url, local_server.admin_key
    queue = f"load-{uuid.uuid4().hex[:8]}"
    full_name = f"{queue}:0"
    assert http("POST", f"{base}/v1/queue/register", {"queue": queue, "endpoint": "/v1/x"}, key)[0] == 200

    def put(n: int) -> str:
        task = {"queue": queue, "endpoint": "/v1/x", "data": {"n": n}}
        status, body, _ = http("POST", f"{base}/v1/queue/put", task, key)
        assert status == 200, body
        return body["data"]

    with ThreadPoolExecutor(4) as producers:
        put_ids = list(producers.map(put, range(TASKS)))
    assert len(set(put_ids)) == TASKS

    deliveries: list[str] = []  # every task id any worker was handed, repeats included
    completed: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + DEADLINE_SECONDS

    def work() -> None:
        empty_in_a_row = 0
        while time.monotonic() < deadline and empty_in_a_row < 3:
            status, taken, _ = http("POST", f"{base}/v1/queue/take", {"queues": [full_name], "size": 5}, key)
            if status != 200:
                with lock:
                    errors.append(f"take {status} {taken}")
                return
            tasks = taken.get(full_name, [])
            empty_in_a_row = 0 if tasks else empty_in_a_row + 1
            with lock:
                deliveries.extend(t["task_id"] for t in tasks)
            for task in tasks:
                result = {"status_code": 200, "body": {"n": task["data"]["n"]}}
                headers = {"X-Lease-Id": task["lease_id"]}
                status, body, _ = http("POST", f"{base}/v1/queue/{task['task_id']}/complete", result, key, headers)
                with lock:
                    (completed if status == 200 else errors).append(task["task_id"] if status == 200 else body)

    workers = [threading.Thread(target=work) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert len(deliveries) == len(set(deliveries)), "a task was delivered twice"
    assert sorted(deliveries) == sorted(put_ids), "a task was lost"
    assert sorted(completed) == sorted(put_ids)
    for task_id in put_ids[:: TASKS // 20]:  # a sample: each shows its own result
        status, task, _ = http("GET", f"{base}/v1/queue/{task_id}", key=key)
        assert status == 200 and task["status"] == "succeeded" and task["attempts"] == 1
        assert task["result"]["body"]["n"] == task["data"]["n"]
