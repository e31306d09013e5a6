"""`make bench`: every measurement in one run, a table on stdout, bench/results/latest.json.

dynalite is started once for the depth and contention runs (fresh tables for each). Cost is
counted on moto in-process (see cost.py), cold start and overhead need no server.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from . import coldstart, contention, cost, depth, machine, overhead, report, targets
from .server import dynalite

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
SECTIONS = ("cost", "depth", "contention", "cold_start", "overhead")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the harness (not for the record)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
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
    depths = (100, 1_000) if args.quick else depth.DEPTHS
    samples = 20 if args.quick else depth.SAMPLES
    tasks = 500 if args.quick else contention.TASKS

    results: dict[str, Any] = {"machine": machine.describe(), "quick": args.quick}
    timings: dict[str, float] = {}
    if "cost" in wanted:
        results["cost"] = _timed("cost", timings, cost.run)
    if {"depth", "contention"} & set(wanted):
        with dynalite() as endpoint:
            if "depth" in wanted:
                results["depth"] = _timed("depth", timings, lambda: depth.run(endpoint, depths, samples))
            if "contention" in wanted:
                results["contention"] = _timed("contention", timings, lambda: contention.run(endpoint, tasks))
    if "cold_start" in wanted:
        results["cold_start"] = _timed("cold_start", timings, coldstart.run)
    if "overhead" in wanted:
        results["overhead"] = _timed("overhead", timings, overhead.run)

    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = timings
    results["targets"] = targets.check(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(report.render(results))
    print(f"written to {args.out}")
