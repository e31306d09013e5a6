"""Depth scaling: latency of take(size=10) with 100, 10,000 and 100,000 waiting tasks, plus as
many finished ones, on dynalite (ordered indexes, like DynamoDB; moto's index queries scan).

Each depth gets its own table, so the table grows with the queue. After every measured take
the queue is topped up at its tail (untimed), so the depth holds through the samples. Depths
are sampled in turn and ours and the naive baseline alternate on each queue, so drift in the
machine's load hits every depth and both takers alike.
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
QUEUE = "depth"


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


class Queue:
    """One depth: its own table, filled, with a taker of each kind on it."""

    def __init__(self, endpoint: str, depth: int) -> None:
        self.depth = depth
        self.tables = fresh_tables(endpoint)
        register(endpoint, self.tables, QUEUE)
        began = time.perf_counter()
        fill_queue(endpoint, self.tables.tasks, QUEUE, waiting=depth, finished=depth, now=int(time.time() * 1000))
        self.fill_seconds = time.perf_counter() - began
        self.takers = {name: cls(endpoint, self.tables, QUEUE, Meter()) for name, cls in TAKERS.items()}
        self.top_up = client_for(endpoint, validate=False)
        self.latencies: dict[str, list[float]] = {name: [] for name in [*self.takers, "ours_query"]}

    def sample(self, first: str, keep: bool) -> None:
        """One take of each kind (`first` first), then our head read alone."""
        for name in sorted(self.takers, key=lambda n: n != first):
            start = time.perf_counter()
            ids = self.takers[name].take(SIZE)
            elapsed = time.perf_counter() - start
            if len(ids) != SIZE:
                raise RuntimeError(f"{name} took {len(ids)} of {SIZE} at depth {self.depth}")
            add_waiting(self.top_up, self.tables.tasks, QUEUE, len(ids), int(time.time() * 1000))
            if keep:
                self.latencies[name].append(elapsed)
        # The head read alone (the one Query of our take), to tell reads from writes.
        start = time.perf_counter()
        self.takers["ours"].store.find_ready(QueueLevel(QUEUE, 0), int(time.time() * 1000), SIZE + 4)
        if keep:
            self.latencies["ours_query"].append(time.perf_counter() - start)

    def row(self, samples: int) -> dict[str, Any]:
        return {
            "waiting": self.depth,
            "finished": self.depth,
            "fill_seconds": round(self.fill_seconds, 1),
            "samples": samples,
            **{name: summary(values) for name, values in self.latencies.items()},
        }


def run(endpoint: str, depths: tuple[int, ...] = DEPTHS, samples: int = SAMPLES) -> dict[str, Any]:
    """All depths filled first, then sampled in turn: a change of load on the machine during
    the run hits every depth alike instead of whichever was measured at the time."""
    queues = [Queue(endpoint, depth) for depth in depths]
    kinds = list(TAKERS)
    for i in range(WARMUP + samples):
        for queue in queues:
            queue.sample(first=kinds[i % len(kinds)], keep=i >= WARMUP)
    rows = [queue.row(samples) for queue in queues]
    for queue in queues:
        client_for(endpoint).delete_table(TableName=queue.tables.tasks)  # frees dynalite's memory
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
