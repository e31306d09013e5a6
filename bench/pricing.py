"""Cost per million tasks (issue 14 point 5): list prices times the measured request counts.

Columns: our single routes (put, take(size=10), complete), our batched routes (put-batch 100,
take 10, complete-batch 10), the naive baseline behind the same single routes, and SQS standard
as a user would use it instead (no API Gateway, no Lambda: producers and workers call SQS).

Inputs, in this order of preference:
- DynamoDB requests per task: the `cost` section of this run, else bench/results/latest.json;
- the batched routes: the `batched` section's results if a run has them (bench/batched.py),
  else the formulas below, marked "estimated";
- write units by item size: bench/partitions.py on items shaped as the store writes them (a
  task of `DATA_BYTES` data, a result of `RESULT_BYTES`), the indexes from template.yaml;
- Lambda: memory sizes from template.yaml; durations = the API function's CPU per take(10)
  (`overhead` section, botocore included) + one DynamoDB round trip per request
  (`DYNAMODB_ROUND_TRIP_MS`, an assumption: this machine has no DynamoDB to time);
- CloudWatch: the API function's own log bytes per call, measured (one take through the real
  handler, stdout captured), + the Lambda platform's START/END/REPORT lines (assumed).

Prices: us-east-1, read on DATE_READ from the pages below (first pricing tier, no free tier).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from taskq.models import Status, Task
from taskq.store.codec import task_attributes, to_item
from taskq.store.keys import index_attributes
from taskq_local.template import load_template

from .partitions import charges, schemas

DATE_READ = "2026-12-03"


@dataclass(frozen=True)
class Price:
    dollars: float
    per: str
    source: str


PRICES = {
    "api_gateway_rest": Price(
        3.50, "million requests (first 333 M a month)", "https://aws.amazon.com/api-gateway/pricing/"
    ),
    "lambda_requests": Price(0.20, "million requests", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_arm_gb_s": Price(
        0.0000133334, "GB-second, arm64 (first 7.5 G GB-s a month)", "https://aws.amazon.com/lambda/pricing/"
    ),
    "dynamodb_wru": Price(
        0.625, "million write request units, on-demand", "https://aws.amazon.com/dynamodb/pricing/on-demand/"
    ),
    "dynamodb_rru": Price(
        0.125, "million read request units, on-demand", "https://aws.amazon.com/dynamodb/pricing/on-demand/"
    ),
    # GetRecords by a Lambda trigger are free; other readers pay $0.02 per 100,000.
    "streams_rru": Price(
        0.0,
        "million stream read request units by Lambda triggers",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
    "logs_ingested_gb": Price(
        0.50, "GB of logs ingested (standard class)", "https://aws.amazon.com/cloudwatch/pricing/"
    ),
    "xray_traces": Price(5.00, "million traces recorded", "https://aws.amazon.com/xray/pricing/"),
    "sqs_standard": Price(
        0.40, "million requests (each 64 KB chunk of a request is one)", "https://aws.amazon.com/sqs/pricing/"
    ),
}

DATA_BYTES = 1_000  # a task's `data` (a prompt); SQS's message body is this too
RESULT_BYTES = 1_000  # a result stored inline on the task
DYNAMODB_ROUND_TRIP_MS = 5.0  # assumed: in-region DynamoDB p50 for small items
PLATFORM_LOG_BYTES = 350  # assumed: Lambda's START, END and REPORT lines of one invocation
XRAY_SAMPLED = 0.05  # X-Ray's default rule: 1 request/s, then 5 %; at high rates, ~5 %
STREAM_BATCH = 99  # template.yaml's BatchSize of the dispatcher's stream trigger
STREAM_RECORDS_PER_TASK = 3  # put, claim, complete each change the task
STREAM_BATCH_MS = 100  # assumed: one batch of the dispatcher (counters' transaction)
STREAM_BATCH_WRU = 4  # its TransactWriteItems: one counter + the batch marker, 2 units each
SQS_BATCH = 10  # SendMessageBatch, ReceiveMessage (long polling, full), DeleteMessageBatch
SQS_CHUNK = 64 * 1024
BATCHED = {"put": 100, "take": 10, "complete": 10}  # tasks per call of the batched routes


# --- write units by item size, from the template's indexes -------------------------------------


def _task(status: Status, **extra: Any) -> Task:
    now = 1_800_000_000_000
    task = Task(
        task_id="TASK-1800000000000-0123456789abcdef",
        ak="ak-producer-0123456789",
        queue="hot",
        level=0,
        endpoint="/v1/chat/completions",
        data={"prompt": "x" * DATA_BYTES},
        status=Status.WAITING,
        start_time=now,
        expire_time=now + 86_400_000,
    )
    return replace(task, status=status, **extra)


def _item(task: Task, **extra: Any) -> dict[str, Any]:
    return to_item(task_attributes(task) | index_attributes(task) | extra)


def write_units() -> dict[str, int]:
    """Write request units of an uncontended put, claim and complete, indexes included."""
    schema = schemas()["TasksTable"]
    waiting = _item(_task(Status.WAITING))
    lease = {"lease_id": "LEASE-" + "0" * 32, "lease_expire_time": 1_800_000_600_000}
    running = _item(_task(Status.RUNNING, attempts=1, running_time=1, **lease))
    done = _item(_task(Status.SUCCEEDED, attempts=1, completed_time=2, **lease), result={"body": "y" * RESULT_BYTES})
    key = {"task_id": waiting["task_id"]}

    def total(old: dict[str, Any] | None, new: dict[str, Any] | None, table_only: bool = False) -> int:
        return sum(c.units for c in charges("tasks", schema, key, old, new) if not (table_only and c.index))

    # `<op>_table`: the table's share, which a transactional write pays twice (its index writes once)
    return {
        "put": total(None, waiting),
        "claim": total(waiting, running),
        "complete": total(running, done),
        "put_table": total(None, waiting, table_only=True),
        "complete_table": total(running, done, table_only=True),
    }


# --- measured inputs ---------------------------------------------------------------------------


def log_bytes_per_take() -> int:
    """What the API function writes to stdout (its log line, its EMF metrics) on one
    take(size=10), through the real handler on canned DynamoDB answers (bench/overhead.py)."""
    from . import overhead

    os.environ.update(overhead.FUNCTION_ENV)
    from taskq_api import dependencies
    from taskq_api.app import lambda_handler

    store = dependencies.get_store()
    real, store._db = store._db, overhead.CannedDynamo()
    event, context = overhead.take_event(), overhead.LambdaContextStub()
    try:
        with tempfile.TemporaryFile() as captured, _stdout_to(captured):
            lambda_handler(json.loads(json.dumps(event)), context)  # warm: first-call lines aside
            start = captured.tell()
            lambda_handler(json.loads(json.dumps(event)), context)
            size = captured.tell() - start
    finally:
        store._db = real
    return size


@contextlib.contextmanager
def _stdout_to(file: Any):
    """fd 1 into `file`: the loggers hold their own reference to sys.stdout, so only the file
    descriptor catches everything they write."""
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(file.fileno(), 1)
    try:
        yield
        sys.stdout.flush()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _memory_mb() -> dict[str, int]:
    template = load_template()
    default = template["Globals"]["Function"]["MemorySize"]
    resources = template["Resources"]
    return {
        rid: r["Properties"].get("MemorySize", default)
        for rid, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
    }


def _latest(section: str) -> dict[str, Any] | None:
    path = Path(__file__).resolve().parent / "results" / "latest.json"
    return json.loads(path.read_text()).get(section) if path.exists() else None


# --- the columns -------------------------------------------------------------------------------


@dataclass
class Column:
    name: str
    api_requests: float  # API Gateway requests (= API function invocations) per task
    dynamodb_requests: float  # per task, from the cost section
    reads_rru: float
    writes_wru: float
    lambda_ms: float  # API function ms per task
    log_bytes: float
    source: str

    def costs(self, memory_gb: float, stream_memory_gb: float) -> dict[str, float]:
        p = PRICES
        m = 1_000_000
        stream_batches = STREAM_RECORDS_PER_TASK / STREAM_BATCH
        return {
            "API Gateway REST": self.api_requests * p["api_gateway_rest"].dollars,
            "Lambda requests": (self.api_requests + stream_batches) * p["lambda_requests"].dollars,
            "Lambda duration": m
            * p["lambda_arm_gb_s"].dollars
            * (self.lambda_ms * memory_gb + stream_batches * STREAM_BATCH_MS * stream_memory_gb)
            / 1000,
            "DynamoDB writes": (self.writes_wru + stream_batches * STREAM_BATCH_WRU) * p["dynamodb_wru"].dollars,
            "DynamoDB reads": self.reads_rru * p["dynamodb_rru"].dollars,
            "DynamoDB Streams": STREAM_RECORDS_PER_TASK / STREAM_BATCH * p["streams_rru"].dollars,
            "CloudWatch Logs": m * self.log_bytes / 1e9 * p["logs_ingested_gb"].dollars,
            "X-Ray": self.api_requests * XRAY_SAMPLED * p["xray_traces"].dollars,
        }


def _reads(by_operation: dict[str, float]) -> float:
    """Read units per task: an eventually consistent Query of index items (< 4 KB) is 0.5;
    a GetItem / BatchGetItem item up to 4 KB is taken as 1 (consistent)."""
    return 0.5 * by_operation.get("Query", 0) + by_operation.get("GetItem", 0) + by_operation.get("BatchGetItem", 0)


def _ops(cost: dict[str, Any], impl: str, take: str = "take_10") -> dict[str, dict[str, Any]]:
    figures = cost["ours"]["fifo"] if impl == "ours" else cost["naive"]
    return {"put": figures["put"], "take": figures[take], "complete": figures["complete"]}


def _call_ms(requests_per_call: float, cpu_ms: float) -> float:
    return math.ceil(cpu_ms + requests_per_call * DYNAMODB_ROUND_TRIP_MS)  # billed by the ms


def single(
    cost: dict[str, Any], impl: str, units: dict[str, int], cpu_ms: float, log: float, take: str = "take_10"
) -> Column:
    ops = _ops(cost, impl, take)
    requests = sum(o["requests_per_task"] for o in ops.values())
    reads = sum(_reads(o["by_operation"]) for o in ops.values())
    take_calls = 1 / ops["take"].get("tasks_per_call", 10)
    lambda_ms = (
        _call_ms(ops["put"]["requests_per_task"], cpu_ms)
        + take_calls * _call_ms(ops["take"]["requests_per_task"] / take_calls, cpu_ms)
        + _call_ms(ops["complete"]["requests_per_task"], cpu_ms)
    )
    api = 2 + take_calls
    wru = units["put"] + units["claim"] + units["complete"]
    size = take.removeprefix("take_")
    name = f"single routes, take {size}" if impl == "ours" else f"naive baseline, take {size}"
    return Column(name, api, requests, reads, wru, lambda_ms, api * log, "measured (cost section)")


def batched(
    cost: dict[str, Any], units: dict[str, int], cpu_ms: float, log: float, found: dict[str, Any] | None
) -> Column:
    """From the `batched` section's "batched" mix (bench/batched.py: put-batch 100, take 10,
    complete-batch 10) when a run has it; else each item of a batch costing what its single
    route's request costs (a PutItem per put, an UpdateItem per complete): estimated. A phase
    that writes with TransactWriteItems pays its table writes twice (DynamoDB bills a
    transactional write 2 units per KB)."""
    ops = _ops(cost, "ours")
    wru = units["put"] + units["claim"] + units["complete"]
    if found is not None:
        phases = found["by_phase"]
        per_task = {op: phases[op]["dynamodb_requests_per_task"] for op in ("put", "take", "complete")}
        by_operation = {op: phases[op]["by_operation"] for op in ("put", "take", "complete")}
        api = found["api_requests_per_task"]
        for op in ("put", "complete"):
            if by_operation[op].get("TransactWriteItems"):
                wru += units[f"{op}_table"]
        source = "measured (batched section)"
    else:
        per_task = {op: ops[op]["requests_per_task"] for op in ("put", "take", "complete")}
        by_operation = {op: ops[op]["by_operation"] for op in ("put", "take", "complete")}
        api = sum(1 / n for n in BATCHED.values())
        source = "estimated (formulas)"
    reads = sum(_reads(o) for o in by_operation.values())
    lambda_ms = sum(_call_ms(per_task[op] * n, cpu_ms) / n for op, n in BATCHED.items())
    return Column("batched routes", api, sum(per_task.values()), reads, wru, lambda_ms, api * log, source)


def sqs() -> dict[str, float]:
    """SQS standard, batches of 10 on every call, long polling on a busy queue (every receive
    full); a batch of 10 tasks of DATA_BYTES is one 64 KB chunk."""
    chunks = math.ceil(SQS_BATCH * (DATA_BYTES + 200) / SQS_CHUNK)  # + attributes, JSON
    requests = 3 * chunks / SQS_BATCH  # send, receive, delete
    return {"SQS requests": requests * PRICES["sqs_standard"].dollars, "requests_per_task": requests}


def run(results: dict[str, Any] | None = None) -> dict[str, Any]:
    results = results or {}
    cost = results.get("cost") or _latest("cost")
    overhead_figures = results.get("overhead") or _latest("overhead")
    if cost is None or overhead_figures is None:
        raise SystemExit("pricing needs the cost and overhead figures: run `--only cost,overhead,pricing` once")
    cpu_ms = overhead_figures["handler_with_botocore"]["cpu_us"] / 1000
    log = log_bytes_per_take() + PLATFORM_LOG_BYTES
    units = write_units()
    memory = _memory_mb()
    api_gb, stream_gb = memory["ApiFunction"] / 1024, memory["DispatcherFunction"] / 1024
    found = (results.get("batched") or _latest("batched") or {}).get("batched")
    columns = [
        single(cost, "ours", units, cpu_ms, log, "take_1"),
        single(cost, "ours", units, cpu_ms, log),
        batched(cost, units, cpu_ms, log, found),
        single(cost, "naive", units, cpu_ms, log),
    ]
    table = {}
    for column in columns:
        lines = column.costs(api_gb, stream_gb)
        table[column.name] = {
            "dollars_per_million_tasks": {k: round(v, 4) for k, v in lines.items()},
            "total": round(sum(lines.values()), 3),
            "api_requests_per_task": round(column.api_requests, 3),
            "dynamodb_requests_per_task": round(column.dynamodb_requests, 2),
            "write_units_per_task": column.writes_wru,
            "read_units_per_task": round(column.reads_rru, 3),
            "api_function_ms_per_task": round(column.lambda_ms, 1),
            "source": column.source,
        }
    queue = sqs()
    table["SQS standard"] = {
        "dollars_per_million_tasks": {"SQS requests": round(queue["SQS requests"], 4)},
        "total": round(queue["SQS requests"], 3),
        "sqs_requests_per_task": round(queue["requests_per_task"], 3),
        "source": "formula (list price x requests)",
    }
    batched_total = table["batched routes"]["total"]
    return {
        "date_read": DATE_READ,
        "region": "us-east-1",
        "prices": {k: p.__dict__ for k, p in PRICES.items()},
        "assumptions": {
            "data_bytes": DATA_BYTES,
            "result_bytes": RESULT_BYTES,
            "dynamodb_round_trip_ms": DYNAMODB_ROUND_TRIP_MS,
            "api_function_cpu_ms_per_call": round(cpu_ms, 2),
            "log_bytes_per_api_call": log,
            "memory_mb": {"ApiFunction": memory["ApiFunction"], "DispatcherFunction": memory["DispatcherFunction"]},
            "write_units": units,
        },
        "columns": table,
        # issue 14's target: the batched routes >= 5x cheaper per task than the single ones
        "single_over_batched": {
            take: round(table[f"single routes, take {take}"]["total"] / batched_total, 2) for take in ("1", "10")
        },
    }


def render(p: dict[str, Any], table: Any) -> str:
    names = list(p["columns"])
    lines = sorted({line for c in p["columns"].values() for line in c["dollars_per_million_tasks"]}, key=_order)
    rows = [
        [line, *(_dollars(p["columns"][n]["dollars_per_million_tasks"].get(line)) for n in names)] for line in lines
    ]
    rows.append(["total, $ per million tasks", *(f"**{p['columns'][n]['total']:.2f}**" for n in names)])
    rows.append(
        ["API Gateway requests per task", *(str(p["columns"][n].get("api_requests_per_task", "-")) for n in names)]
    )
    rows.append(
        ["DynamoDB requests per task", *(str(p["columns"][n].get("dynamodb_requests_per_task", "-")) for n in names)]
    )
    rows.append(["write units per task", *(str(p["columns"][n].get("write_units_per_task", "-")) for n in names)])
    rows.append(["figures", *(p["columns"][n]["source"] for n in names)])
    ratio = p["single_over_batched"]
    title = (
        f"Cost per million tasks, {p['region']}, list prices read {p['date_read']} "
        f"(single/batched: {ratio['1']}x with take 1, {ratio['10']}x with take 10)"
    )
    return title + "\n" + table(["$ per million tasks", *names], rows)


_LINES = [
    "API Gateway REST",
    "Lambda requests",
    "Lambda duration",
    "DynamoDB writes",
    "DynamoDB reads",
    "DynamoDB Streams",
    "CloudWatch Logs",
    "X-Ray",
    "SQS requests",
]


def _order(line: str) -> int:
    return _LINES.index(line) if line in _LINES else len(_LINES)


def _dollars(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
