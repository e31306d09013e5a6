"""A batch end to end on the local server (issue 12, point 7): a real `taskq serve` process
(counted_server.py counts its DynamoDB and S3 requests), a generated JSONL file of `lines`
requests uploaded through `POST /v1/files`, then:

- `fan_out_s`: batches.create answered -> every line's task waiting in the queue (the queue's
  `waiting` count, which the dispatcher keeps: a little later than takeable, never earlier);
- `drain_s`: worker threads take TAKE_SIZE at a time and complete them in one complete-batch, as
  a batch worker would (every FAIL_EVERY-th with a 500);
- `finalize_s`: the last complete answered -> the batch `completed` with its files;
- `accounted`: the output and error files read back hold every custom_id exactly once, the
  failed ones in the error file (a guarantee: missing it fails the run);
- requests per line by phase: DynamoDB writes and reads, S3 requests.

Lines are small (~150 bytes: 50,000 lines are ~7 MB, under the 10 MB of `POST /v1/files`).
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .online import ADMIN_KEY, Client, Server, local_server

LINES = 50_000
QUICK_LINES = 300  # ~100 ms of server CPU per take + complete: a 2,000-line file is minutes, not "brief"
WORKERS = 4
TAKE_SIZE = 100  # with complete-batch: 0.02 API requests a line (the single routes' 1.1)
FAIL_EVERY = 20  # one request in 20 answers 500: it must end in the error file
ENDPOINT = "/v1/chat/completions"
LEVEL = 1  # a batch's tasks are offline (level 1 unless X-Taskq-Level says otherwise)
PHASE_TIMEOUT_S = 1800
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}


@dataclass(frozen=True)
class Sizes:
    lines: int = LINES
    workers: int = WORKERS


QUICK = Sizes(lines=QUICK_LINES, workers=2)


def batch_file(queue: str, lines: int) -> bytes:
    rows = (
        {
            "custom_id": f"r-{i}",
            "method": "POST",
            "url": ENDPOINT,
            "body": {"model": queue, "messages": [{"role": "user", "content": f"question {i}"}]},
        }
        for i in range(lines)
    )
    return "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows).encode()


def upload(server: Server, content: bytes) -> str:
    """POST /v1/files, multipart, as the openai client sends it."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.jsonl"\r\n'
            "Content-Type: application/jsonl\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection = http.client.HTTPConnection(server.base_url.removeprefix("http://"), timeout=300)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": f"multipart/form-data; boundary={boundary}"}
    connection.request("POST", "/v1/files", body, headers)
    answer = connection.getresponse()
    raw = answer.read()
    connection.close()
    assert answer.status == 200, (answer.status, raw[:500])
    return json.loads(raw)["id"]


def per_line(counts: Counter[str], lines: int) -> dict[str, Any]:
    dynamodb = {k: v for k, v in counts.items() if not k.startswith("s3:")}
    return {
        "dynamodb_writes": round(sum(v for k, v in dynamodb.items() if k in WRITES) / lines, 3),
        "dynamodb_reads": round(sum(v for k, v in dynamodb.items() if k in READS) / lines, 3),
        "s3_requests": round(sum(v for k, v in counts.items() if k.startswith("s3:")) / lines, 5),
        "requests": dict(sorted(counts.items())),
    }


def wait_until(read: Any, done: Any, what: str, poll: float = 0.2) -> Any:
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while time.monotonic() < deadline:
        value = read()
        if done(value):
            return value
        time.sleep(poll)
    raise TimeoutError(f"{what}: not within {PHASE_TIMEOUT_S} s")


class Worker(threading.Thread):
    """Takes TAKE_SIZE tasks at a time and completes them together; stops when told and the queue is empty."""

    def __init__(self, server: Server, queue: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.client, self.queue, self.stop = Client(server.base_url), f"{queue}:{LEVEL}", stop
        self.completed: list[str] = []
        self.errors: list[str] = []
        self.last_complete = 0.0

    def run(self) -> None:
        take = {"queues": [self.queue], "size": TAKE_SIZE, "process_timeout": 600}
        while not self.stop.is_set():
            status, taken, _ = self.client.call("POST", "/v1/queue/take", take)
            tasks = (taken or {}).get(self.queue, []) if status == 200 else []
            if status != 200:
                self.errors.append(f"take {status} {taken}")
            if not tasks:
                time.sleep(0.05)
                continue
            results = []
            for task in tasks:
                failing = int(task["custom_id"].removeprefix("r-")) % FAIL_EVERY == 0
                result = {"status_code": 500 if failing else 200, "request_id": task["task_id"], "body": {"ok": 1}}
                results.append({"task_id": task["task_id"], "lease_id": task["lease_id"], "result": result})
            status, answer, _ = self.client.call("POST", "/v1/queue/complete-batch", {"results": results})
            refused = [item for item in (answer or {}).get("data", []) if item.get("code") != 200]
            if status != 200 or refused:
                self.errors.append(f"complete-batch {status} {refused or answer}")
            self.completed += [task["custom_id"] for task in tasks]
            self.last_complete = time.perf_counter()


def accounted(output: str, errors: str, lines: int) -> dict[str, Any]:
    """Every custom_id once across both files; the failing ones (and only them) as errors."""
    done = [json.loads(line) for line in output.splitlines() if line]
    failed = [json.loads(line) for line in errors.splitlines() if line]
    seen = Counter(r["custom_id"] for r in done + failed)
    expected_failed = {f"r-{i}" for i in range(0, lines, FAIL_EVERY)}
    ok = (
        set(seen) == {f"r-{i}" for i in range(lines)}
        and max(seen.values()) == 1
        and {r["custom_id"] for r in failed} == expected_failed
    )
    return {
        "output_lines": len(done),
        "error_lines": len(failed),
        "duplicates": sum(c - 1 for c in seen.values()),
        "missing": lines - len(seen),
        "exactly_once": ok,
    }


def run(sizes: Sizes = Sizes()) -> dict[str, Any]:
    queue = f"bench-batch-{uuid.uuid4().hex[:6]}"
    with local_server() as server:
        client = Client(server.base_url)
        status, body, _ = client.call("POST", "/v1/queue/register", {"queue": queue, "endpoint": ENDPOINT})
        assert status == 200, body
        content = batch_file(queue, sizes.lines)
        file_id = upload(server, content)

        def batch() -> dict[str, Any]:
            status, answer, _ = client.call("GET", f"/v1/batches/{batch_id}")
            assert status == 200, answer
            return answer

        def waiting() -> int:
            status, answer, _ = client.call("GET", f"/v1/queue/{queue}:{LEVEL}/stats")
            return answer["waiting"] if status == 200 else -1

        before = server.requests()
        created_at = time.perf_counter()
        status, created, _ = client.call(
            "POST", "/v1/batches", {"input_file_id": file_id, "endpoint": ENDPOINT, "completion_window": "24h"}
        )
        assert status == 200, created
        batch_id = created["id"]
        wait_until(waiting, lambda n: n == sizes.lines, "every line's task waiting")
        fan_out_s = time.perf_counter() - created_at
        fanned = server.requests()

        stop = threading.Event()
        workers = [Worker(server, queue, stop) for _ in range(sizes.workers)]
        drain_started = time.perf_counter()
        for worker in workers:
            worker.start()
        wait_until(lambda: sum(len(w.completed) for w in workers), lambda n: n >= sizes.lines, "drained", 0.5)
        stop.set()
        for worker in workers:
            worker.join(60)
        last_complete = max(w.last_complete for w in workers)
        drained = server.requests()
        ended = wait_until(batch, lambda b: b["status"] in ("completed", "failed", "expired"), "batch ended", 0.1)
        finalize_s = time.perf_counter() - last_complete
        finalized = server.requests()

        files = {}
        for kind in ("output_file_id", "error_file_id"):
            answer = client.send("GET", f"/v1/files/{ended[kind]}/content") if ended.get(kind) else None
            files[kind] = answer.read().decode() if answer is not None else ""
        errors = [e for w in workers for e in w.errors]
        return {
            "lines": sizes.lines,
            "file_bytes": len(content),
            "workers": sizes.workers,
            "take_size": TAKE_SIZE,
            "status": ended["status"],
            "request_counts": ended["request_counts"],
            "fan_out_s": round(fan_out_s, 1),
            "drain_s": round(last_complete - drain_started, 1),
            "tasks_per_s": round(sizes.lines / (last_complete - drain_started), 1),
            "finalize_s": round(finalize_s, 1),
            "accounted": accounted(files["output_file_id"], files["error_file_id"], sizes.lines),
            "worker_errors": errors[:5],
            "per_line": {
                "fan_out": per_line(fanned - before, sizes.lines),
                "drain": per_line(drained - fanned, sizes.lines),
                "finalize": per_line(finalized - drained, sizes.lines),
            },
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }


def render(b: dict[str, Any], table: Any) -> str:
    phases = b["per_line"]
    rows = [
        [
            phase,
            b[f"{phase}_s"],
            phases[phase]["dynamodb_writes"],
            phases[phase]["dynamodb_reads"],
            phases[phase]["s3_requests"],
        ]
        for phase in ("fan_out", "drain", "finalize")
    ]
    a = b["accounted"]
    title = (
        f"Batch on the local server: {b['lines']} lines ({b['file_bytes']} bytes), {b['workers']} workers taking "
        f"{b['take_size']}; {b['status']}, {a['output_lines']} output + {a['error_lines']} error lines, "
        f"exactly once: {a['exactly_once']}; drain {b['tasks_per_s']} tasks/s"
    )
    return title + "\n" + table(["phase", "seconds", "DynamoDB writes/line", "reads/line", "S3 requests/line"], rows)
