"""The printed table: one block per measurement, then the targets."""

from __future__ import annotations

from typing import Any

from . import batch as batch_section
from . import batched as batched_section
from . import hot_queue as hot_queue_section
from . import online as online_section
from . import pricing as pricing_section


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = lambda row: "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells[1:])])


def _ratio(ours: float, naive: float) -> str:
    return f"{ours / naive:.2f}" if naive else "-"


def cost(c: dict[str, Any]) -> str:
    rows = []
    naive = c["naive"]
    for who, figures in [*c["ours"].items(), ("naive", naive)]:
        row = [who if who == "naive" else f"ours {who}"]
        for op in ("put", "take_1", "take_10", "complete"):
            ours_n, naive_n = figures[op]["requests_per_task"], naive[op]["requests_per_task"]
            row.append(f"{ours_n} ({_ratio(ours_n, naive_n)})")
        rows.append(row)
    head = ["requests per task (ours/naive)", "put", "take(size=1)", "take(size=10)", "complete"]
    return "Cost per task, DynamoDB requests (one queue, warm, uncontended)\n" + _table(head, rows)


def depth(d: dict[str, Any]) -> str:
    rows = [
        [
            f"{r['waiting']:,} + {r['finished']:,}",
            r["ours"]["p50_ms"],
            r["ours"]["p95_ms"],
            r["ours_query"]["p50_ms"],
            r["naive"]["p50_ms"],
            r["naive"]["p95_ms"],
            _ratio(r["ours"]["p50_ms"], r["naive"]["p50_ms"]),
        ]
        for r in d["rows"]
    ]
    ratios = d["ratios"]
    rows.append(
        [
            "deepest/shallowest",
            ratios["ours"]["deep_over_shallow_p50"],
            ratios["ours"]["deep_over_shallow_p95"],
            ratios["ours_query"]["deep_over_shallow_p50"],
            ratios["naive"]["deep_over_shallow_p50"],
            ratios["naive"]["deep_over_shallow_p95"],
            "",
        ]
    )
    head = [
        "waiting + finished",
        "ours p50 ms",
        "ours p95 ms",
        "ours Query p50",
        "naive p50 ms",
        "naive p95 ms",
        "ours/naive p50",
    ]
    return f"Depth scaling, take(size={d['size']}) latency on dynalite\n" + _table(head, rows)


def contention(c: dict[str, Any]) -> str:
    runs = {(r["impl"], r["takers"], r["size"]): r for r in c["runs"]}
    rows = []
    for (impl, takers, size), r in sorted(runs.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0] != "ours")):
        other = runs.get(("naive", takers, size)) if impl == "ours" else None
        rows.append(
            [
                impl,
                size,
                takers,
                r["claims_per_s"],
                r["failed_per_claim"],
                r["requests_per_claim"],
                r["duplicates"],
                f"{r['claimed']}/{r['tasks']}",
                _ratio(r["claims_per_s"], other["claims_per_s"]) if other else "",
                _ratio(r["failed_per_claim"], other["failed_per_claim"]) if other else "",
            ]
        )
    head = [
        "taker",
        "size",
        "takers",
        "claims/s",
        "failed writes/claim",
        "requests/claim",
        "duplicates",
        "claimed",
        "claims/s ours/naive",
        "failed ours/naive",
    ]
    return f"Contention: takers draining one queue of {c['tasks']:,} tasks on dynalite\n" + _table(head, rows)


def cold_start(c: dict[str, Any]) -> str:
    sizes = c["sizes"] or {}  # None: not measured (--quick)
    rows = [
        [
            name,
            h["import_ms_median"],
            h["import_ms_min"],
            h["import_cpu_ms_median"],
            h.get("import_and_first_call_cpu_ms_median", "-"),  # older results lack it
            ", ".join(f"{p['package']} {p['ms']}" for p in h["heaviest"][:3]),
            f"{sizes[name]['zipped_bytes'] / 1024:.1f} KiB" if sizes else "-",
        ]
        for name, h in c["handlers"].items()
    ]
    if sizes:
        layer = sizes["layer"]
        layer_size = f"{layer['zipped_bytes'] / 2**20:.1f} MiB ({layer['unzipped_bytes'] / 2**20:.1f} MiB unzipped)"
        rows.append(["layer", "", "", "", "", "", layer_size])
    head = [
        "function",
        f"import ms median of {c.get('runs', 5)}",
        "min",
        "CPU ms median",
        "+ first call, CPU ms",
        "heaviest packages (ms of their own modules)",
        "zipped size",
    ]
    load = c.get("load_average", {}).get("before", "?")
    source = sizes.get("source", "not measured")
    title = f"Cold start (Python {c['python']}, compiled bytecode, load average {load}; sizes: {source})"
    return title + "\n" + _table(head, rows)


def overhead(o: dict[str, Any]) -> str:
    rows = [
        [layer, o[layer]["cpu_us"], o[layer]["wall_us"]] for layer in ("handler", "service", "handler_with_botocore")
    ]
    return f"Handler overhead per take(size={o['size']}), canned DynamoDB answers\n" + _table(
        ["layer", "CPU us", "wall us"], rows
    )


def client(c: dict[str, Any]) -> str:
    rows = [
        [
            r["impl"],
            r["concurrency"],
            r["tasks_per_s"],
            r.get("of_raw", ""),
            r["duplicates"],
            f"{r['handled']}/{r['tasks']}",
        ]
        for r in c["runs"]
    ]
    head = ["worker", "concurrency", "tasks/s", "library/raw", "duplicates", "handled"]
    title = f"Client library: a no-op handler on the local server, {c['tasks']} tasks per run, beside a raw HTTP loop"
    return title + "\n" + _table(head, rows)


def targets(checks: list[dict[str, Any]]) -> str:
    rows = [[t["target"], t["value"], t["limit"], "met" if t["met"] else "MISSED"] for t in checks]
    return "Targets\n" + _table(["target", "value", "limit", ""], rows)


def online(o: dict[str, Any]) -> str:
    return online_section.render(o, _table)


def batch(b: dict[str, Any]) -> str:
    return batch_section.render(b, _table)


def batched(b: dict[str, Any]) -> str:
    return batched_section.render(b, _table)


def hot_queue(h: dict[str, Any]) -> str:
    return hot_queue_section.render(h, _table)


def pricing(p: dict[str, Any]) -> str:
    return pricing_section.render(p, _table)


SECTIONS = {
    "cost": cost,
    "depth": depth,
    "contention": contention,
    "hot_queue": hot_queue,
    "cold_start": cold_start,
    "overhead": overhead,
    "online": online,
    "client": client,
    "batch": batch,
    "batched": batched,
    "pricing": pricing,
}


def render(results: dict[str, Any]) -> str:
    meta = results["machine"]
    header = (
        f"taskq benchmarks, {meta['date']} at {meta['commit']}: {meta['nproc']} CPUs ({meta['cpu']}), "
        f"{meta['memory_gib']} GiB, Python {meta['python']}, node {meta['node']}, dynalite {meta['dynalite']}"
    )
    blocks = [header] + [fmt(results[name]) for name, fmt in SECTIONS.items() if name in results]
    return "\n\n".join([*blocks, targets(results["targets"])]) + "\n"
