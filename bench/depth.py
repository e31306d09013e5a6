"""Depth scaling: latency of take(size=10) with 100, 10,000 and 100,000 waiting tasks, plus as
many finished ones, on dynalite (ordered indexes, like DynamoDB; moto's index queries scan).

Each depth gets its own table, so the table grows with the queue. After every measured take
the queue is topped up at its tail (untimed), so the depth holds through the samples. Ours and
the naive baseline alternate take by take on the same queue, so drift hits both alike.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from taskq.models import QueueLevel

from .fill import add_waiting, fill_queue
from .meter import Meter
from .server import client_for, fresh_tables
from .takers import TAKERS, register

DEPTHS = (100, 10_000, 100_000)
SIZE = 10
WARMUP = 10
SAMPLES = 150


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def measure(endpoint: str, depth: int, samples: int = SAMPLES) -> dict[str, Any]:
    tables = fresh_tables(endpoint)
    queue = "depth"
    register(endpoint, tables, queue)
    began = time.perf_counter()
    fill_queue(endpoint, tables.tasks, queue, waiting=depth, finished=depth, now=int(time.time() * 1000))
    fill_seconds = time.perf_counter() - began

    meter = Meter()
    takers = {name: cls(endpoint, tables, queue, meter) for name, cls in TAKERS.items()}
    top_up = client_for(endpoint, validate=False)
    latencies: dict[str, list[float]] = {name: [] for name in [*takers, "ours_query"]}
    for i in range(WARMUP + samples):
        order = list(takers) if i % 2 == 0 else list(reversed(takers))
        for name in order:
            start = time.perf_counter()
            ids = takers[name].take(SIZE)
            elapsed = time.perf_counter() - start
            if len(ids) != SIZE:
                raise RuntimeError(f"{name} took {len(ids)} of {SIZE} at depth {depth}")
            add_waiting(top_up, tables.tasks, queue, len(ids), int(time.time() * 1000))
            if i >= WARMUP:
                latencies[name].append(elapsed)
        # The head read alone (the one Query of our take), to tell reads from writes.
        start = time.perf_counter()
        takers["ours"].store.find_ready(QueueLevel(queue, 0), int(time.time() * 1000), SIZE + 4)
        if i >= WARMUP:
            latencies["ours_query"].append(time.perf_counter() - start)
    client_for(endpoint).delete_table(TableName=tables.tasks)  # frees dynalite's memory
    return {
        "waiting": depth,
        "finished": depth,
        "fill_seconds": round(fill_seconds, 1),
        "samples": samples,
        **{name: summary(values) for name, values in latencies.items()},
    }


def run(endpoint: str, depths: tuple[int, ...] = DEPTHS, samples: int = SAMPLES) -> dict[str, Any]:
    rows = [measure(endpoint, depth, samples) for depth in depths]
    shallow, deep = rows[0], rows[-1]
    ratios = {
        name: {
            "deep_over_shallow_p50": round(deep[name]["p50_ms"] / shallow[name]["p50_ms"], 3),
            "deep_over_shallow_p95": round(deep[name]["p95_ms"] / shallow[name]["p95_ms"], 3),
        }
        for name in [*TAKERS, "ours_query"]
    }
    ours_over_naive = [round(r["ours"]["p50_ms"] / r["naive"]["p50_ms"], 3) for r in rows]
    return {"size": SIZE, "rows": rows, "ratios": ratios, "ours_over_naive_p50": ours_over_naive}
