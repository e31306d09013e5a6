"""Contention: 1, 4 and 16 concurrent takers draining one queue of 5,000 tasks on dynalite.

Takers only claim (they complete nothing), so every one of them is back at the head of the
queue as soon as it can: the worst case for fights over the head. Per run: claims per second,
failed conditional writes per successful claim, and duplicate deliveries (no lease ends during
a run, so a task delivered twice is a duplicate).

One taker against the naive one (the uncontended ratio, issue 16) is measured differently: on
this shared machine the load moves between two runs made one after the other, and with it the
claims/s of each. So the two single takers drain a queue each on the same server, their takes
alternated call by call (the order swapped every call), and each one's claims/s counts only the
time its own takes took: both meet the same load.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from .fill import fill_queue
from .meter import Meter
from .server import fresh_tables
from .takers import TAKERS, register

TASKS = 5_000
TAKER_COUNTS = (1, 4, 16)
EMPTY_TAKES_TO_STOP = 3  # a taker stops after this many empty takes in a row


def drain(endpoint: str, impl: str, takers: int, size: int, tasks: int = TASKS) -> dict[str, Any]:
    tables = fresh_tables(endpoint)
    queue = f"drain{takers}"
    register(endpoint, tables, queue)
    fill_queue(endpoint, tables.tasks, queue, waiting=tasks, finished=0, now=int(time.time() * 1000))

    meter = Meter()
    workers = [TAKERS[impl](endpoint, tables, queue, meter) for _ in range(takers)]
    claimed: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(takers + 1)
    last_claim = [0.0]

    errors: list[BaseException] = []

    def run(worker: Any) -> None:
        start.wait()
        empty = 0
        while empty < EMPTY_TAKES_TO_STOP and not errors:
            try:
                ids = worker.take(size)
            except Exception as e:  # a taker that dies must fail the run, not shrink it
                errors.append(e)
                raise
            if not ids:
                empty += 1
                time.sleep(0.01)
                continue
            empty = 0
            with lock:
                claimed.extend(ids)
                last_claim[0] = time.perf_counter()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} taker(s) failed") from errors[0]

    return _figures(impl, takers, size, tasks, claimed, last_claim[0] - began, meter)


def alternate(endpoint: str, tasks: int = TASKS, impls: tuple[str, ...] = ("ours", "naive")) -> list[dict[str, Any]]:
    """One taker of each `impls`, take(size=1), each draining its own queue of `tasks`, their
    takes alternated call by call; claims/s over the time of each one's own takes."""
    tables = fresh_tables(endpoint)
    meters = {impl: Meter() for impl in impls}
    workers = {}
    for impl in impls:
        queue = f"alone-{impl}"
        register(endpoint, tables, queue)
        fill_queue(endpoint, tables.tasks, queue, waiting=tasks, finished=0, now=int(time.time() * 1000))
        workers[impl] = TAKERS[impl](endpoint, tables, queue, meters[impl])
    claimed: dict[str, list[str]] = {impl: [] for impl in impls}
    busy = dict.fromkeys(impls, 0.0)
    order = list(impls)
    while order:
        for impl in list(order):
            start = time.perf_counter()
            ids = workers[impl].take(1)
            busy[impl] += time.perf_counter() - start
            claimed[impl] += ids
            if not ids:  # drained (one taker alone: an empty take means an empty queue)
                order.remove(impl)
        order.reverse()
    figures = [_figures(impl, 1, 1, tasks, claimed[impl], busy[impl], meters[impl]) for impl in impls]
    return [f | {"alternated": True} for f in figures]


def _figures(impl: str, takers: int, size: int, tasks: int, claimed: list[str], elapsed: float, meter: Meter):
    counts = Counter(claimed)
    return {
        "impl": impl,
        "takers": takers,
        "size": size,
        "tasks": tasks,
        "claimed": len(counts),
        "seconds": round(elapsed, 2),
        "claims_per_s": round(len(claimed) / elapsed, 1) if elapsed > 0 else 0.0,
        "failed_writes": meter.failed_writes,
        "failed_per_claim": round(meter.failed_writes / max(len(claimed), 1), 3),
        "duplicates": sum(n - 1 for n in counts.values()),
        "requests": dict(meter.calls),
        "requests_per_claim": round(meter.total / max(len(claimed), 1), 2),
    }


def run(endpoint: str, tasks: int = TASKS, taker_counts: tuple[int, ...] = TAKER_COUNTS) -> dict[str, Any]:
    """One taker of each, alternated (see above); then every other taker count with
    take(size=1), where each claim needs a fresh read of the head (the sharpest fight), and the
    most takers with take(size=10)."""
    plan = [(takers, 1) for takers in taker_counts if takers > 1] + [(taker_counts[-1], 10)]
    runs = alternate(endpoint, tasks) if 1 in taker_counts else []
    runs += [drain(endpoint, impl, takers, size, tasks) for takers, size in plan for impl in ("ours", "naive")]
    return {"tasks": tasks, "runs": runs}
