"""`make bench`: every measurement in one run, a table on stdout, bench/results/latest.json.
`make bench BENCH_ARGS=--quick` (CI) runs every section briefly into bench/results/quick.json.

dynalite is started once for the depth, contention and hot-queue runs (fresh tables for each;
hot_queue puts its partition-limit simulator in front of it). Cost is counted on moto
in-process (see cost.py), cold start and overhead need no server; online and batch start their own
`taskq serve` process (see online.py, batch.py). Pricing comes last: it prices this run's cost and
overhead figures (else latest.json's).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import (
    batch,
    batched,
    client,
    coldstart,
    contention,
    cost,
    depth,
    hot_queue,
    machine,
    online,
    overhead,
    pricing,
    report,
    targets,
)
from .server import dynalite

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
# A --quick run (CI) proves the harness works; its figures are not for the record, so they never
# replace latest.json.
QUICK_RESULTS = RESULTS.with_name("quick.json")
SECTIONS = (
    "cost",
    "depth",
    "contention",
    "hot_queue",
    "cold_start",
    "overhead",
    "online",
    "client",
    "batch",
    "batched",
    "pricing",
)


@dataclass(frozen=True)
class Sizes:
    depths: tuple[int, ...] = depth.DEPTHS
    depth_samples: int = depth.SAMPLES
    contention_tasks: int = contention.TASKS
    taker_counts: tuple[int, ...] = contention.TAKER_COUNTS
    cold_start_runs: int = coldstart.RUNS
    package_sizes: bool = True
    overhead_calls: int = overhead.CALLS
    online: online.Sizes = field(default_factory=online.Sizes)
    client_tasks: int = client.TASKS
    client_concurrency: tuple[int, ...] = client.CONCURRENCY
    hot_queue: hot_queue.Sizes = field(default_factory=hot_queue.Sizes)
    batched_tasks: int = batched.TASKS
    batch_sizes: batch.Sizes = field(default_factory=batch.Sizes)


# Every section, briefly: about a minute on a 2-core machine.
QUICK = Sizes(
    depths=(100, 1_000),
    depth_samples=20,
    contention_tasks=300,
    taker_counts=(1, 4),
    cold_start_runs=2,
    package_sizes=False,
    overhead_calls=200,
    online=online.QUICK,
    client_tasks=60,
    client_concurrency=(1, 8),
    hot_queue=hot_queue.QUICK,
    batched_tasks=200,
    batch_sizes=batch.QUICK,
)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"small sizes, to try the harness (not for the record: {QUICK_RESULTS.name})",
    )
    parser.add_argument("--out", type=Path, help=f"where to write the JSON results (default {RESULTS.name})")
    return parser.parse_args()


def _timed(name: str, timings: dict[str, float], measure: Any) -> Any:
    print(f"... {name}", flush=True)
    start = time.perf_counter()
    value = measure()
    timings[name] = round(time.perf_counter() - start, 1)
    print(f"    {name} took {timings[name]} s (load average {os.getloadavg()[0]:.2f})", flush=True)
    return value


def main() -> None:
    args = _arguments()
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {', '.join(sorted(unknown))}")
    sizes = QUICK if args.quick else Sizes()
    out = args.out or (QUICK_RESULTS if args.quick else RESULTS)

    results: dict[str, Any] = {"machine": machine.describe(), "quick": args.quick}
    timings: dict[str, float] = {}
    if "cost" in wanted:
        results["cost"] = _timed("cost", timings, cost.run)
    if {"depth", "contention", "hot_queue"} & set(wanted):
        with dynalite() as endpoint:
            if "depth" in wanted:
                results["depth"] = _timed(
                    "depth", timings, lambda: depth.run(endpoint, sizes.depths, sizes.depth_samples)
                )
            if "contention" in wanted:
                results["contention"] = _timed(
                    "contention",
                    timings,
                    lambda: contention.run(endpoint, sizes.contention_tasks, sizes.taker_counts),
                )
            if "hot_queue" in wanted:
                results["hot_queue"] = _timed("hot_queue", timings, lambda: hot_queue.run(endpoint, sizes.hot_queue))
    if "cold_start" in wanted:
        results["cold_start"] = _timed(
            "cold_start", timings, lambda: coldstart.run(sizes.cold_start_runs, sizes.package_sizes)
        )
    if "overhead" in wanted:
        results["overhead"] = _timed("overhead", timings, lambda: overhead.run(sizes.overhead_calls))
    if "online" in wanted:
        results["online"] = _timed("online", timings, lambda: online.run(sizes.online))
    if "client" in wanted:
        results["client"] = _timed("client", timings, lambda: client.run(sizes.client_tasks, sizes.client_concurrency))
    if "batch" in wanted:
        results["batch"] = _timed("batch", timings, lambda: batch.run(sizes.batch_sizes))
    if "batched" in wanted:
        results["batched"] = _timed("batched", timings, lambda: batched.run(sizes.batched_tasks))
    if "pricing" in wanted:  # from this run's cost and overhead figures, else latest.json's
        results["pricing"] = _timed("pricing", timings, lambda: pricing.run(results))

    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = timings
    results["targets"] = targets.check(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(report.render(results))
    print(f"written to {out}")
    # Performance targets are judged by people (the machine's load moves them); a broken
    # guarantee, such as a task handed to two takers at once, fails the run.
    broken = [t["target"] for t in results["targets"] if t.get("guarantee") and not t["met"]]
    if broken:
        raise SystemExit(f"guarantees broken: {', '.join(broken)}")
