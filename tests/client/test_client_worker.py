"""Worker in this process against the local server: exactly-once processing, retries with
backoff and their budget, TaskError, heartbeats that keep a short lease alive, and fencing."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from client_support import ENDPOINT, eventually

from taskq_client import Client, Result, Task, TaskContext, TaskError, Worker
from tests.local.local_server_process import start_server


@contextmanager
def running(worker: Worker, grace: float = 10) -> Iterator[Worker]:
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(grace=grace)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Client]:
    """A server of this test's own: a thousand tasks would slow every later take of a shared
    one (the embedded moto's index queries read the whole table)."""
    server = start_server(tmp_path / "server.log", admin_key="thousand-admin-key", TASKQ_DATA_DIR="")
    try:
        with Client(server.base_url, server.admin_key) as client:
            yield client
    finally:
        server.stop()


# Issue 13's figure. The embedded server spends about 160 ms of CPU per task here (put, take,
# complete on moto), so this test takes minutes, not seconds (docs/client.md, Tests).
THOUSAND = 1000


@pytest.mark.slow
def test_a_thousand_tasks_are_processed_exactly_once_at_concurrency_8(own_server: Client) -> None:
    admin, queue = own_server, "thousand"
    admin.register(queue, ENDPOINT)
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    worker = Worker(admin, [f"{queue}:1"], concurrency=8, process_timeout=120)

    @worker.handler
    def handle(task: Task, ctx: TaskContext) -> dict[str, Any]:
        with lock:
            seen[task.task_id] += 1
        return {"n": task.data["n"]}

    with ThreadPoolExecutor(4) as pool:  # a backlog first: the worker's takes then fill all 8 threads
        put = set(pool.map(lambda n: admin.put(queue, {"n": n}, level=1), range(THOUSAND)))
    assert len(put) == THOUSAND
    with running(worker):
        eventually(lambda: worker.counts["succeeded"], lambda n: n >= THOUSAND, seconds=900)
        time.sleep(0.3)  # a duplicate, were there one, would show up within this
    assert set(seen) == put and set(seen.values()) == {1}, "every task handled, none twice"
    assert worker.counts["succeeded"] == THOUSAND and worker.counts["fenced"] == 0
    stats = eventually(lambda: admin.stats(f"{queue}:1"), lambda s: s["succeeded"] == THOUSAND)
    assert (stats["succeeded"], stats["waiting"], stats["running"]) == (THOUSAND, 0, 0)


def test_a_handler_that_raises_is_retried_with_backoff_then_fails(admin: Client, queue: str) -> None:
    task_id = admin.put(queue, {}, level=1)
    attempts: list[tuple[int, float]] = []
    worker = Worker(admin, [f"{queue}:1"], max_retries=2, backoff=1.0, idle_poll=0.1)

    @worker.handler
    def handle(task: Task, ctx: TaskContext) -> None:
        attempts.append((task.attempts, time.monotonic()))
        raise RuntimeError("model server down")

    with running(worker):
        task = admin.wait(task_id, timeout=20)
    assert [n for n, _ in attempts] == [1, 2, 3], "max_retries=2: two redeliveries, then the budget is spent"
    assert task.status == "failed" and task.result["message"] == "retries exhausted"
    assert "model server down" in task.result["reason"]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(attempts)]
    assert all(gap >= 0.9 for gap in gaps), f"each retry waited its backoff (>= 1 s): {gaps}"


def test_retry_delays_grow_exponentially_with_jitter(admin: Client) -> None:
    worker = Worker(admin, ["q:1"], backoff=2.0, max_backoff=60)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (4, 16), (10, 60)]:
        delays = {worker.retry_delay(attempt) for _ in range(200)}
        assert min(delays) >= ceiling // 2 and max(delays) <= ceiling, (attempt, sorted(delays))
        assert len(delays) > 1 or ceiling <= 2, "jittered"
    assert Worker(admin, ["q:1"], backoff=0).retry_delay(5) == 0


def test_a_task_error_without_retry_fails_the_task_at_once(admin: Client, queue: str) -> None:
    task_id = admin.put(queue, {}, level=1)
    calls: list[int] = []
    worker = Worker(admin, [f"{queue}:1"], max_retries=5, idle_poll=0.1)

    @worker.handler
    def handle(task: Task, ctx: TaskContext) -> None:
        calls.append(task.attempts)
        raise TaskError(422, "prompt too long", retry=False, body={"field": "prompt"})

    with running(worker):
        task = admin.wait(task_id, timeout=10)
    assert calls == [1]
    assert task.status == "failed"
    assert task.result == {
        "status_code": 422,
        "request_id": task_id,
        "message": "prompt too long",
        "body": {"field": "prompt"},
    }


def test_a_returned_result_sets_the_status_code(admin: Client, queue: str) -> None:
    ok, bad = admin.put(queue, {"ok": True}, level=1), admin.put(queue, {"ok": False}, level=1)
    worker = Worker(admin, [f"{queue}:1"], concurrency=2, idle_poll=0.1)

    @worker.handler
    def handle(task: Task, ctx: TaskContext) -> Result:
        return Result(202, {"ok": True}) if task.data["ok"] else Result(503, {"error": "busy"})

    with running(worker):
        done, failed = admin.wait(ok, timeout=10), admin.wait(bad, timeout=10)
    assert (done.status, done.result["status_code"], done.result["body"]) == ("succeeded", 202, {"ok": True})
    assert (failed.status, failed.result["status_code"]) == ("failed", 503)


@pytest.mark.slow
@pytest.mark.parametrize("heartbeats", [True, False], ids=["heartbeats", "none"])
def test_heartbeats_keep_a_5_s_lease_alive_for_20_s_of_work(admin: Client, queue: str, heartbeats: bool) -> None:
    """Issue 13's figures. Without heartbeats (the control) the lease ends, the sweeper takes
    the task back and the late complete is refused."""
    task_id = admin.put(queue, {}, level=1)
    worker = Worker(
        admin, [f"{queue}:1"], process_timeout=5, max_retries=0, heartbeat_every=None if heartbeats else 3600
    )

    @worker.handler
    def handle(task: Task, ctx: TaskContext) -> dict[str, Any]:
        time.sleep(20)
        return {"attempt": task.attempts}

    with running(worker, grace=30):  # the control's handler ends (and is fenced) 15 s after the timeout
        task = admin.wait(task_id, timeout=40)
    if heartbeats:
        assert (task.status, task.attempts, task.result["body"]) == ("succeeded", 1, {"attempt": 1})
        assert worker.counts["fenced"] == 0
    else:
        assert task.status == "timeout" and worker.counts["fenced"] == 1


def test_a_handler_past_its_lease_is_fenced_and_logged(
    admin: Client, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    task_id = admin.put(queue, {}, level=1)
    worker = Worker(admin, [f"{queue}:1"], process_timeout=1, max_retries=0, heartbeat_every=3600)
    finished = threading.Event()

    @worker.handler
    def handle(task: Task, ctx: TaskContext) -> dict[str, Any]:
        time.sleep(2.5)  # the lease (1 s, no heartbeat) ends; the sweeper times the task out
        finished.set()
        return {"late": True}

    with caplog.at_level(logging.WARNING, logger="taskq_client.worker"), running(worker):
        assert finished.wait(10)
        eventually(lambda: worker.counts["fenced"], lambda n: n == 1)
    assert worker.counts["fenced"] == 1 and worker.counts["succeeded"] == 0
    assert admin.get(task_id).status == "timeout"
    assert any(task_id in r.getMessage() and "complete refused" in r.getMessage() for r in caplog.records)
