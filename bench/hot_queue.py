"""One hot queue-level under DynamoDB's partition limits (issue 14 point 4).

Producers put and takers take(size=10) + complete through the service layer, each thread with
its own client and service (separate Lambda instances), against dynalite behind the
partition-limit simulator (bench/partition_proxy.py, in a process of its own). Per shard count
K: sustained completed tasks/s over a window, DynamoDB requests per take call, the simulator's
throttles and the clients' errors.

The simulator's limit is scaled down: dynalite on this 2-core machine serves far less than 500
tasks/s, so at DynamoDB's 1,000 units/s no partition would ever throttle and every K would
measure dynalite. With each partition at 1,000 / scale units/s, one queue-level's ceiling is
K x 500 / scale tasks/s (the ready key: a put and a claim each write it), which is measurable
as long as it stays under what dynalite does with no simulator at all. So that is measured
first (`unlimited`), and unless a scale is given, the scale is chosen from it: K = 1's ceiling
at `UNLIMITED_SHARE` of dynalite's own rate, so K = 2 and 4 stay measurable.

The SweepDue index (8 shards, 4 writes a task) caps the whole service at 8 x 1,000 / 4 / scale
tasks/s, i.e. 4 x 500 / scale: K = 8 cannot reach its K x 500 target without more sweep shards
(docs/performance.md).

K > 1 needs the admin route (or the service call behind it) that raises a queue-level's shard
count; where the code has none, those runs report "not supported".

Fifo order is checked separately, on dynalite without the simulator (a throttled claim makes
the take fail, which is not what is checked there): one producer puts, one taker drains with
take(size=10), and the order taken must be the order put.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from taskq.clock import SystemClock
from taskq.config import TableNames
from taskq.models import Principal, Role
from taskq.requests import PutRequest, RegisterRequest, TakeRequest
from taskq.service import QueueService
from taskq.store import DynamoStore
from taskq_local.processes import free_port, running

from .meter import Meter
from .partition_proxy import PARTITION_WRITE_UNITS
from .server import client_for, fresh_tables

SHARD_COUNTS = (1, 2, 4, 8)
UNLIMITED_SHARE = 0.25  # K = 1's ceiling as a share of dynalite's own rate (the adaptive scale)
SECONDS = 30.0  # measured window per run
WARMUP_SECONDS = 3.0
PRODUCERS = 2
TAKERS = 4
SIZE = 10
BACKLOG = 100  # producers wait while this many tasks are put and not completed
FIFO_TASKS = 200
FIFO_SHARDS = 4
QUEUE_ENDPOINT = "/v1/chat/completions"
NOT_SUPPORTED = "not supported: no shard setting in this code (POST /v1/console/<queue_level>/shards)"
PRODUCER = Principal("ak-bench-producer", Role.PRODUCER)
WORKER = Principal("ak-bench-worker", Role.WORKER)
ADMIN = Principal("ak-bench-admin", Role.ADMIN)


@dataclass(frozen=True)
class Sizes:
    shard_counts: tuple[int, ...] = SHARD_COUNTS
    seconds: float = SECONDS
    fifo_tasks: int = FIFO_TASKS
    scale: float | None = None  # None: chosen from dynalite's own rate (see above)


QUICK = Sizes(shard_counts=(1, 2), seconds=4.0, fifo_tasks=40)


def _service(endpoint: str, tables: TableNames, meter: Meter | None = None) -> QueueService:
    client = client_for(endpoint)
    if meter is not None:
        meter.attach(client)
    return QueueService(DynamoStore(client, tables), SystemClock())


def set_shards(service: QueueService, store: DynamoStore, queue: str, shards: int) -> str | None:
    """Raises the queue-level's shard count as the admin route does (`QueueService.raise_shards`,
    or `taskq.sharding.raise_shards` where the route calls that); None if done, else why not."""
    if shards == 1:
        return None
    try:
        from taskq.requests import ShardsRequest  # type: ignore[attr-defined]
    except ImportError:
        return NOT_SUPPORTED
    request = ShardsRequest(shards=shards)
    if hasattr(service, "raise_shards"):
        service.raise_shards(ADMIN, f"{queue}:0", request)
        return None
    try:
        from taskq.sharding import raise_shards  # type: ignore[import-not-found]
    except ImportError:
        return NOT_SUPPORTED
    raise_shards(store, ADMIN, f"{queue}:0", request)
    return None


class Tally:
    """What the threads did, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.put = 0
        self.completed: list[float] = []  # when each completion returned
        self.take_calls = 0
        self.take_requests = 0
        self.errors: dict[str, int] = {}
        self.failed_takes = 0

    def error(self, e: Exception) -> None:
        code = getattr(e, "response", {}).get("Error", {}).get("Code") or type(e).__name__
        with self.lock:
            self.errors[code] = self.errors.get(code, 0) + 1


def _producer(service: QueueService, queue: str, tally: Tally, stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        with tally.lock:
            backlog = tally.put - len(tally.completed)
        if backlog >= BACKLOG:
            time.sleep(0.005)
            continue
        try:
            service.put(PRODUCER, PutRequest(queue=queue, endpoint=QUEUE_ENDPOINT, data={"n": n}))
        except Exception as e:  # a throttled put (after botocore's retries) is retried by its producer
            tally.error(e)
            time.sleep(0.05)
            continue
        n += 1
        with tally.lock:
            tally.put += 1


def _taker(service: QueueService, meter: Meter, queue: str, tally: Tally, stop: threading.Event) -> None:
    request = TakeRequest(queues=[f"{queue}:0"], strategy="fifo", size=SIZE, process_timeout=3600)
    while not stop.is_set():
        before = meter.total
        try:
            tasks = service.take(WORKER, request).get(f"{queue}:0", [])
        except Exception as e:  # the take's claims so far are leased to nobody until the lease ends
            tally.error(e)
            with tally.lock:
                tally.failed_takes += 1
            time.sleep(0.05)
            continue
        with tally.lock:
            tally.take_calls += 1
            tally.take_requests += meter.total - before
        if not tasks:
            time.sleep(0.01)
        for task in tasks:
            while not stop.is_set():
                try:
                    service.complete(WORKER, task["task_id"], {"ok": True}, task["lease_id"])
                except Exception as e:
                    tally.error(e)
                    time.sleep(0.05)
                    continue
                with tally.lock:
                    tally.completed.append(time.perf_counter())
                break


def sustained(endpoint: str, shards: int, seconds: float, watch: Any = None) -> dict[str, Any]:
    """Producers and takers on one fresh queue-level for WARMUP_SECONDS + `seconds`."""
    tables = fresh_tables(endpoint)
    if watch is not None:
        watch(tables)
    queue = f"hot{shards}"
    store = DynamoStore(client_for(endpoint), tables)
    admin = QueueService(store, SystemClock())
    admin.register(ADMIN, RegisterRequest(queue=queue, endpoint=QUEUE_ENDPOINT))
    why_not = set_shards(admin, store, queue, shards)
    if why_not is not None:
        return {"shards": shards, "supported": False, "note": why_not}
    tally, stop = Tally(), threading.Event()
    meters = [Meter() for _ in range(TAKERS)]
    threads = [
        threading.Thread(target=_producer, args=(_service(endpoint, tables), queue, tally, stop))
        for _ in range(PRODUCERS)
    ] + [threading.Thread(target=_taker, args=(_service(endpoint, tables, m), m, queue, tally, stop)) for m in meters]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    time.sleep(WARMUP_SECONDS + seconds)
    stop.set()
    for thread in threads:
        thread.join()
    start, end = began + WARMUP_SECONDS, began + WARMUP_SECONDS + seconds
    done = sum(start <= t < end for t in tally.completed)
    return {
        "shards": shards,
        "supported": True,
        "seconds": seconds,
        "tasks_per_s": round(done / seconds, 1),
        "completed": len(tally.completed),
        "put": tally.put,
        "take_calls": tally.take_calls,
        "requests_per_take": round(tally.take_requests / max(tally.take_calls, 1), 2),
        "failed_takes": tally.failed_takes,
        "client_errors": tally.errors,
    }


def fifo_order(endpoint: str, shards: int, tasks: int) -> dict[str, Any]:
    """One producer puts `tasks`, one taker drains them with take(size=10): the same order?"""
    tables = fresh_tables(endpoint)
    queue = f"fifo{shards}"
    store = DynamoStore(client_for(endpoint), tables)
    service = QueueService(store, SystemClock())
    service.register(ADMIN, RegisterRequest(queue=queue, endpoint=QUEUE_ENDPOINT))
    why_not = set_shards(service, store, queue, shards)
    if why_not is not None:
        return {"shards": shards, "supported": False, "note": why_not}
    put = [service.put(PRODUCER, PutRequest(queue=queue, endpoint=QUEUE_ENDPOINT, data={"n": i})) for i in range(tasks)]
    request = TakeRequest(queues=[f"{queue}:0"], strategy="fifo", size=SIZE, process_timeout=3600)
    taken: list[str] = []
    while len(taken) < tasks:
        batch = service.take(WORKER, request).get(f"{queue}:0", [])
        if not batch:
            break
        taken += [t["task_id"] for t in batch]
    return {"shards": shards, "supported": True, "tasks": tasks, "taken": len(taken), "exact": taken == put}


@contextlib.contextmanager
def simulator(upstream: str, limit: float) -> Iterator[tuple[str, Any, Any]]:
    """The simulator in its own process; yields its endpoint, `watch(tables)` and `stats()`."""
    port = free_port()
    command = [sys.executable, "-m", "bench.partition_proxy", upstream, str(limit), str(port)]
    with running(command, port) as endpoint:

        def watch(tables: TableNames) -> None:
            body = json.dumps(tables.by_logical_id()).encode()
            request = urllib.request.Request(f"{endpoint}/_watch", body, method="POST")
            urllib.request.urlopen(request, timeout=30).read()

        def stats() -> dict[str, Any]:
            return json.load(urllib.request.urlopen(f"{endpoint}/_stats", timeout=30))

        yield endpoint, watch, stats


def run(dynalite: str, sizes: Sizes = Sizes()) -> dict[str, Any]:
    # What dynalite does here with nothing in front of it: the most any K can show.
    unlimited = sustained(dynalite, 1, sizes.seconds)
    if sizes.scale is not None:
        scale = sizes.scale
    else:  # K = 1's ceiling (limit / 2) at UNLIMITED_SHARE of dynalite's rate; whole units/s
        limit = max(2, round(2 * UNLIMITED_SHARE * unlimited["tasks_per_s"]))
        scale = PARTITION_WRITE_UNITS / limit
    limit = PARTITION_WRITE_UNITS / scale
    result: dict[str, Any] = {
        "scale": round(scale, 1),
        "unlimited": unlimited,
        "partition_write_units_per_s": limit,
        "ceiling_per_shard": limit / 2,  # a put and a claim each write the queue's ready key
        "sweep_ceiling": 8 * limit / 4,  # SweepDue: 8 shards, 4 writes a task
        "producers": PRODUCERS,
        "takers": TAKERS,
        "size": SIZE,
    }
    runs = []
    with simulator(dynalite, limit) as (endpoint, watch, stats):
        for shards in sizes.shard_counts:
            before = stats()
            figures = sustained(endpoint, shards, sizes.seconds, watch)
            after = stats()
            if figures["supported"]:
                target = shards * min(limit / 2, result["sweep_ceiling"] / shards)
                figures |= {
                    "target_tasks_per_s": shards * limit / 2,
                    "reachable_tasks_per_s": round(target, 1),
                    "of_target": round(figures["tasks_per_s"] / (shards * limit / 2), 2),
                    "throttled": after["throttled"] - before["throttled"],
                    "proxy_requests": after["requests"] - before["requests"],
                }
            runs.append(figures)
    result["runs"] = runs
    shards = FIFO_SHARDS if set_shards_supported() else 1
    result["fifo"] = fifo_order(dynalite, shards, sizes.fifo_tasks)
    return result


def set_shards_supported() -> bool:
    try:
        from taskq.requests import ShardsRequest  # type: ignore[attr-defined]  # noqa: F401
    except ImportError:
        return False
    return True


def render(h: dict[str, Any], table: Any) -> str:
    u = h["unlimited"]
    rows = [["dynalite alone (no simulator)", "1", u["tasks_per_s"], "-", u["requests_per_take"], "-", "-"]]
    for r in h["runs"]:
        if not r["supported"]:
            rows.append(["simulator", r["shards"], "not supported", "", "", "", ""])
            continue
        errors = ", ".join(f"{k} {v}" for k, v in r["client_errors"].items()) or "0"
        rows.append(
            [
                "simulator",
                r["shards"],
                r["tasks_per_s"],
                f"{r['target_tasks_per_s']:.0f} ({r['of_target']})",
                r["requests_per_take"],
                r["throttled"],
                f"{errors}; failed takes {r['failed_takes']}",
            ]
        )
    head = ["", "K", "tasks/s", "K x 500/scale (ratio)", "requests/take", "throttled", "client errors"]
    f = h["fifo"]
    fifo = f"fifo at K={f['shards']}: " + (
        f"{f['taken']}/{f['tasks']} taken, order {'exact' if f['exact'] else 'NOT exact'}"
        if f["supported"]
        else f["note"]
    )
    title = (
        f"Hot queue: {h['producers']} producers, {h['takers']} takers (take {h['size']} + complete), "
        f"partitions limited to {h['partition_write_units_per_s']:.0f} units/s (1,000 / {h['scale']:g})"
    )
    return title + "\n" + table(head, rows) + "\n" + fifo
