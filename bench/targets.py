"""The targets of issues 7, 11, 12, 14 and 16, checked against a run's results."""

from __future__ import annotations

from typing import Any

DEPTH_RATIO_MAX = 1.2
FAILED_PER_CLAIM_MAX = 0.3
NAIVE_FACTOR_MIN = 3.0
COLD_IMPORT_MS_MAX = 200  # issue 16: CPU ms per handler import, bytecode compiled
UNCONTENDED_RATIO_MIN = 0.9  # issue 16: one taker's claims/s, ours over naive
# Issue 16's request counts per task (one queue, warm, uncontended): strategy -> operation -> most
# requests. take_1 of fifo / active_passive is the physical minimum (1 Query + 1 conditional write);
# round_robin over one queue reads no cursor, so it is the same; sequential claims in 3. A common
# complete (lease given, result inline) is one write; a sequential task's also releases its lock
# (docs/design.md "Cost per call"), not the common case the issue names, so it has no row here.
REQUESTS_PER_TASK_MAX = {
    "fifo": {"take_1": 2.0, "take_10": 1.1, "complete": 1.0},
    "active_passive": {"take_1": 2.0, "take_10": 1.1, "complete": 1.0},
    "round_robin": {"take_1": 2.0, "take_10": 1.1, "complete": 1.0},
    "sequential": {"take_1": 3.0},
}
OVERHEAD_US_MAX = 1000
# issue 11: online tasks on the local server
ONLINE_OVERHEAD_P50_MS_MAX = 50
EVENT_P50_MS_MAX = 100
EVENT_P99_MS_MAX = 250
WAIT_REQUESTS_PER_SECOND_MAX = 10
HOT_QUEUE_OF_TARGET_MIN = 0.8  # issue 14: within 20 % of K x 500 tasks/s (scaled, see hot_queue.py)
BATCHED_CHEAPER_MIN = 5.0  # issue 14: the batched routes >= 5x cheaper per task than the single ones
API_REQUESTS_PER_TASK_MAX = 0.15  # issue 14: put-batch 100 / take 10 / complete-batch 10
# issue 12: a batch on the local server
BATCH_PHASE_S_MAX = 60  # create -> every task takeable; last complete -> output file
BATCH_FAN_OUT_WRITES_PER_LINE_MAX = 1.2
CLIENT_OF_RAW_MIN = 0.9  # issue 13: the library's worker keeps >= 90% of a raw HTTP loop's throughput


def target(name: str, value: Any, limit: str, met: bool, *, guarantee: bool = False) -> dict[str, Any]:
    """`guarantee`: a correctness property rather than a figure; missing it fails the run."""
    return {"target": name, "value": value, "limit": limit, "met": met} | ({"guarantee": True} if guarantee else {})


def check(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []
    if cost := results.get("cost"):
        for strategy, figures in cost["ours"].items():
            for take in ("take_1", "take_10"):
                t = figures[take]
                ok = t["queries_per_call"] <= 1 and t["writes_per_task"] <= 1
                value = f"{t['queries_per_call']} Query/call, {t['writes_per_task']} writes/task"
                checks.append(target(f"cost {strategy} {take}", value, "<= 1 Query per queue, 1 write per task", ok))
            for op, most in REQUESTS_PER_TASK_MAX.get(strategy, {}).items():
                n = figures[op]["requests_per_task"]
                checks.append(target(f"cost {strategy} {op}: requests/task", n, f"<= {most}", n <= most))
    if depth := results.get("depth"):
        ratio = depth["ratios"]["ours"]["deep_over_shallow_p50"]
        checks.append(target("depth p50 deepest/shallowest", ratio, f"<= {DEPTH_RATIO_MAX}", ratio <= DEPTH_RATIO_MAX))
    if contention := results.get("contention"):
        runs = {(r["impl"], r["takers"], r["size"]): r for r in contention["runs"]}
        most = max(r["takers"] for r in contention["runs"])
        ours, naive = runs.get(("ours", 1, 1)), runs.get(("naive", 1, 1))
        if ours is not None and naive is not None and naive["claims_per_s"]:
            ratio = round(ours["claims_per_s"] / naive["claims_per_s"], 2)
            met = ratio >= UNCONTENDED_RATIO_MIN
            checks.append(target("contention 1 taker: claims/s ours/naive", ratio, f">= {UNCONTENDED_RATIO_MIN}", met))
        for size in sorted({r["size"] for r in contention["runs"]}):
            ours, naive = runs.get(("ours", most, size)), runs.get(("naive", most, size))
            if ours is None:
                continue
            f = ours["failed_per_claim"]
            checks.append(
                target(
                    f"contention {most} takers size {size}: failed/claim",
                    f,
                    f"<= {FAILED_PER_CLAIM_MAX}",
                    f <= FAILED_PER_CLAIM_MAX,
                )
            )
            if naive is not None:
                factor = round(naive["failed_per_claim"] / f, 1) if f else float("inf")
                checks.append(
                    target(
                        f"contention {most} takers size {size}: naive/ours failed",
                        factor,
                        f">= {NAIVE_FACTOR_MIN}",
                        factor >= NAIVE_FACTOR_MIN,
                    )
                )
            dup = ours["duplicates"]
            name = f"contention {most} takers size {size}: duplicates"
            checks.append(target(name, dup, "0", dup == 0, guarantee=True))
    if cold := results.get("cold_start"):
        # Judged on the import's CPU time: on a shared 2-core machine the wall time also holds the
        # waits for a CPU other jobs hold (both are in the results, with the load average).
        for name, h in cold["handlers"].items():
            ms = h["import_cpu_ms_median"]
            limit = f"<= {COLD_IMPORT_MS_MAX} ms CPU"
            checks.append(
                target(f"cold import {name} (wall {h['import_ms_median']})", ms, limit, ms <= COLD_IMPORT_MS_MAX)
            )
    if overhead := results.get("overhead"):
        us = overhead["handler"]["cpu_us"]
        checks.append(target("handler CPU per take(10)", us, f"<= {OVERHEAD_US_MAX} us", us <= OVERHEAD_US_MAX))
    if online := results.get("online"):
        checks += online_checks(online)
    if client := results.get("client"):
        for r in client["runs"]:
            if "of_raw" in r:
                name = f"client worker/raw loop, concurrency {r['concurrency']}"
                checks.append(target(name, r["of_raw"], f">= {CLIENT_OF_RAW_MIN}", r["of_raw"] >= CLIENT_OF_RAW_MIN))
            name = f"client {r['impl']} concurrency {r['concurrency']}: duplicates"
            checks.append(target(name, r["duplicates"], "0", r["duplicates"] == 0, guarantee=True))
    if batched := results.get("batched"):
        for mix in ("batched", "batched_complete_100"):
            n, sizes = batched[mix]["api_requests_per_task"], batched[mix]["sizes"]
            name = f"API requests/task, put-batch {sizes['put']} / take {sizes['take']} / complete {sizes['complete']}"
            checks.append(target(name, n, f"<= {API_REQUESTS_PER_TASK_MAX}", n <= API_REQUESTS_PER_TASK_MAX))
    if hot := results.get("hot_queue"):
        checks += hot_queue_checks(hot)
    if prices := results.get("pricing"):
        for take, ratio in prices["single_over_batched"].items():
            name = f"cost per task: single routes (take {take}) / batched routes"
            checks.append(target(name, ratio, f">= {BATCHED_CHEAPER_MIN}", ratio >= BATCHED_CHEAPER_MIN))
    if batch := results.get("batch"):
        checks += batch_checks(batch)
    return checks


def batch_checks(b: dict[str, Any]) -> list[dict[str, Any]]:
    a = b["accounted"]
    value = f"{b['status']}; {a['duplicates']} duplicates, {a['missing']} missing"
    name = f"batch {b['lines']} lines: every line once"
    checks = [target(name, value, "exactly once", a["exactly_once"], guarantee=True)]
    for phase, name in (("fan_out_s", "create -> every task takeable s"), ("finalize_s", "last complete -> output s")):
        # The targets are for 50,000 lines: a smaller file meeting them proves less.
        name = f"batch {b['lines']} lines: {name}"
        checks.append(target(name, b[phase], f"<= {BATCH_PHASE_S_MAX}", b[phase] <= BATCH_PHASE_S_MAX))
    writes, most = b["per_line"]["fan_out"]["dynamodb_writes"], BATCH_FAN_OUT_WRITES_PER_LINE_MAX
    checks.append(target("batch fan-out DynamoDB writes per line", writes, f"<= {most}", writes <= most))
    return checks


def hot_queue_checks(h: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []
    for r in h["runs"]:
        if r["supported"]:
            limit = f">= {HOT_QUEUE_OF_TARGET_MIN} of {r['target_tasks_per_s']:.0f} tasks/s"
            ok = r["of_target"] >= HOT_QUEUE_OF_TARGET_MIN
            checks.append(target(f"hot queue K={r['shards']}: tasks/s of K x 500/scale", r["of_target"], limit, ok))
    f = h["fifo"]
    if f["supported"]:
        value = f"{f['taken']}/{f['tasks']}, {'exact' if f['exact'] else 'not exact'}"
        ok = f["exact"] and f["taken"] == f["tasks"]
        checks.append(target(f"hot queue fifo order at K={f['shards']}", value, "exact", ok, guarantee=True))
    return checks


def online_checks(o: dict[str, Any]) -> list[dict[str, Any]]:
    ms = o["blocking"]["overhead"]["p50_ms"]
    limit = ONLINE_OVERHEAD_P50_MS_MAX
    checks = [target("online blocking overhead p50 ms", ms, f"<= {limit}", ms <= limit)]
    e = o["events"]
    checks.append(
        target("online event latency p50 ms", e["p50_ms"], f"<= {EVENT_P50_MS_MAX}", e["p50_ms"] <= EVENT_P50_MS_MAX)
    )
    checks.append(
        target("online event latency p99 ms", e["p99_ms"], f"<= {EVENT_P99_MS_MAX}", e["p99_ms"] <= EVENT_P99_MS_MAX)
    )
    m = o["many"]
    value = f"{m['answered']}/{m['producers']} answered, {m['errors']} errors"
    ok = m["answered"] == m["producers"] and m["errors"] == 0
    checks.append(
        target(f"online {m['producers']} waiting producers", value, "all answered, 0 errors", ok, guarantee=True)
    )
    r = o["requests"]
    worst = max(r["waiting"]["per_producer_second"], r["running"]["per_producer_second"])
    limit = WAIT_REQUESTS_PER_SECOND_MAX
    checks.append(target("online DynamoDB requests per waiting producer-second", worst, f"<= {limit}", worst <= limit))
    return checks
