"""The client library's worker beside a hand-written HTTP loop (issue 13): a no-op handler's
throughput on the local server at several concurrencies; the target is >= 90% of the raw loop.

Each run gets a fresh local server (in memory) and a backlog put before the clock starts, so
neither side pays for the other's finished tasks (moto's index queries scan the table)."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx

from taskq_client import Client, Worker
from taskq_local.processes import free_port, running

TASKS = 200
CONCURRENCY = (1, 8, 32)
QUEUE, LEVEL, ENDPOINT = "bench-client", 1, "/v1/chat/completions"
ADMIN_KEY = "bench-client-admin-key"
PROCESS_TIMEOUT = 60


@contextlib.contextmanager
def local_server() -> Iterator[str]:
    """`taskq serve --ephemeral` on a free port, with ADMIN_KEY; yields its base URL."""
    port = free_port()
    saved = {name: os.environ.get(name) for name in ("TASKQ_ADMIN_KEY", "DYNAMODB_ENDPOINT")}
    os.environ["TASKQ_ADMIN_KEY"] = ADMIN_KEY
    os.environ.pop("DYNAMODB_ENDPOINT", None)  # the embedded store, as `make serve`
    command = [sys.executable, "-m", "taskq_local.cli", "serve", "--quiet", "--ephemeral", "--port", str(port)]
    try:
        with running(command, port) as base_url:
            yield base_url
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _backlog(client: Client, tasks: int) -> None:
    client.register(QUEUE, ENDPOINT)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: client.put(QUEUE, {"n": n}, endpoint=ENDPOINT, level=LEVEL), range(tasks)))


def raw_loop(base_url: str, tasks: int, concurrency: int) -> tuple[float, Counter[str]]:
    """`concurrency` threads of take(size=1) -> complete with X-Lease-Id over httpx, until the
    queue is empty: what a worker without the library looks like."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=base_url, headers=headers, limits=limits, timeout=60) as http:
        take = {"queues": [f"{QUEUE}:{LEVEL}"], "size": 1, "process_timeout": PROCESS_TIMEOUT}

        def loop() -> None:
            while True:
                taken = http.post("/v1/queue/take", json=take).json().get(f"{QUEUE}:{LEVEL}", [])
                if not taken:
                    return
                task = taken[0]
                with lock:
                    seen[task["task_id"]] += 1
                result = {"status_code": 200, "request_id": task["task_id"], "body": {}}
                complete = http.post(
                    f"/v1/queue/{task['task_id']}/complete", json=result, headers={"X-Lease-Id": task["lease_id"]}
                )
                complete.raise_for_status()

        started = time.perf_counter()
        threads = [threading.Thread(target=loop) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started, seen


def library(base_url: str, tasks: int, concurrency: int) -> tuple[float, Counter[str]]:
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    with Client(base_url, ADMIN_KEY, max_connections=concurrency + 2) as client:
        worker = Worker(client, [f"{QUEUE}:{LEVEL}"], concurrency=concurrency, process_timeout=PROCESS_TIMEOUT)

        @worker.handler
        def noop(task: Any, ctx: Any) -> dict[str, Any]:
            with lock:
                seen[task.task_id] += 1
            return {}

        started = time.perf_counter()
        worker.start()
        while worker.counts["succeeded"] + worker.counts["failed"] < tasks:
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        worker.stop(grace=10)
        return elapsed, seen


def _measure(kind: str, tasks: int, concurrency: int) -> dict[str, Any]:
    with local_server() as base_url:
        with Client(base_url, ADMIN_KEY) as client:
            _backlog(client, tasks)
        seconds, seen = (raw_loop if kind == "raw" else library)(base_url, tasks, concurrency)
    return {
        "impl": kind,
        "concurrency": concurrency,
        "tasks": tasks,
        "handled": len(seen),
        "duplicates": sum(n - 1 for n in seen.values()),
        "seconds": round(seconds, 2),
        "tasks_per_s": round(tasks / seconds, 1),
    }


def run(tasks: int = TASKS, concurrencies: tuple[int, ...] = CONCURRENCY) -> dict[str, Any]:
    """Raw loop then library at each concurrency, each on a fresh server; the library's
    throughput as a share of the raw loop's."""
    runs = []
    for concurrency in concurrencies:
        raw, lib = _measure("raw", tasks, concurrency), _measure("library", tasks, concurrency)
        lib["of_raw"] = round(lib["tasks_per_s"] / raw["tasks_per_s"], 2)
        runs += [raw, lib]
    return {"tasks": tasks, "runs": runs, "load_average": round(os.getloadavg()[0], 2)}
