"""A batch survives `kill -9` of the real local server (issue 12, point 6; docs/design.md
"Batches"): killed while its fan-out is a third of the way, the server restarted on the same
data folder resumes it, every line becomes exactly one task (none twice, none missing), a
worker drains them; killed again while the batch is `finalizing` (its file writes held back by
a test-only delay of the local server), the next start finishes it, and the output and error
files hold every line once."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from local_server_process import ServerProcess, http, start_server

from taskq.batches import line_task_id

CHAT = "/v1/chat/completions"
LINES = 600
FAILING = {f"r-{i}" for i in range(0, LINES, 10)}  # answered 500: the error file's lines
PHASE_SECONDS = 900  # a loaded machine: several engineers' tests share two cores


def start(tmp_path: Path, n: int, **env: str) -> ServerProcess:
    # A restart replays the journal (thousands of lines here): minutes on a loaded machine.
    log = tmp_path / f"server-{n}.log"
    return start_server(log, timeout=PHASE_SECONDS, TASKQ_DATA_DIR=str(tmp_path / "data"), **env)


def wait_for(read: Any, done: Any, what: str, poll: float = 0.05) -> Any:
    deadline = time.monotonic() + PHASE_SECONDS
    while time.monotonic() < deadline:
        value = read()
        if done(value):
            return value
        time.sleep(poll)
    raise AssertionError(f"{what}: not within {PHASE_SECONDS} s")


def upload(server: ServerProcess, queue: str) -> str:
    lines = [
        {"custom_id": f"r-{i}", "method": "POST", "url": CHAT, "body": {"model": queue, "i": i}} for i in range(LINES)
    ]
    content = "".join(json.dumps(line) + "\n" for line in lines).encode()
    boundary = "taskq-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    status, file, _ = http("POST", f"{server.base_url}/v1/files", body, server.admin_key, headers)
    assert status == 200, file
    return file["id"]


def task_exists(server: ServerProcess, batch_id: str, line: int) -> bool:
    status, _, _ = http("GET", f"{server.base_url}/v1/queue/{line_task_id(batch_id, line)}", key=server.admin_key)
    return status == 200


def drain(server: ServerProcess, queue: str) -> Counter[str]:
    """Takes and completes every task of the batch's queue-level; how often each custom_id came."""
    taken: Counter[str] = Counter()
    take = {"queues": [f"{queue}:1"], "size": 100, "process_timeout": 600}

    def take_some() -> list[dict[str, Any]]:
        status, answer, _ = http("POST", f"{server.base_url}/v1/queue/take", take, server.admin_key)
        assert status == 200, answer
        return answer.get(f"{queue}:1", [])

    while sum(taken.values()) < LINES:
        tasks = wait_for(take_some, bool, f"tasks after {sum(taken.values())} taken", poll=0.2)
        results = []
        for task in tasks:
            taken[task["custom_id"]] += 1
            result = {"status_code": 500 if task["custom_id"] in FAILING else 200, "body": {"i": task["data"]["i"]}}
            results.append({"task_id": task["task_id"], "lease_id": task["lease_id"], "result": result})
        status, answer, _ = http(
            "POST", f"{server.base_url}/v1/queue/complete-batch", {"results": results}, server.admin_key
        )
        assert status == 200 and {item["code"] for item in answer["data"]} == {200}, answer
    time.sleep(1)  # a stray task written twice would show here
    assert take_some() == []
    return taken


@pytest.mark.slow
def test_a_batch_killed_in_fan_out_then_in_finalization_ends_with_every_line_once(tmp_path: Path) -> None:
    server = start(tmp_path, 1)
    try:
        queue = "killed-batch"
        status, answer, _ = http(
            "POST", f"{server.base_url}/v1/queue/register", {"queue": queue, "endpoint": CHAT}, server.admin_key
        )
        assert status == 200, answer
        file_id = upload(server, queue)
        body = {"input_file_id": file_id, "endpoint": CHAT, "completion_window": "24h"}
        status, batch, _ = http("POST", f"{server.base_url}/v1/batches", body, server.admin_key)
        assert status == 200, batch
        wait_for(lambda: task_exists(server, batch["id"], LINES // 3), bool, "a third of the lines fanned out")
        assert not task_exists(server, batch["id"], LINES - 1), "the fan-out ended before the kill"
    finally:
        server.stop(signal.SIGKILL)

    # Each file write of the finalization waits 5 s on this start: the window for the second kill.
    server = start(tmp_path, 2, TASKQ_TEST_OBJECT_PUT_DELAY="5")
    try:
        taken = drain(server, queue)
        assert taken == Counter({f"r-{i}": 1 for i in range(LINES)})
        wait_for(lambda: retrieve(server, batch["id"])["status"], lambda s: s == "finalizing", "finalizing")
    finally:
        server.stop(signal.SIGKILL)

    server = start(tmp_path, 3)
    try:
        done = wait_for(lambda: retrieve(server, batch["id"]), lambda b: b["status"] == "completed", "completed", 0.2)
        counts = done["request_counts"]
        assert (counts["total"], counts["completed"], counts["failed"]) == (LINES, LINES - len(FAILING), len(FAILING))
        output, errors = (file_lines(server, done[kind]) for kind in ("output_file_id", "error_file_id"))
        assert Counter(r["custom_id"] for r in output + errors) == Counter({f"r-{i}": 1 for i in range(LINES)})
        assert {r["custom_id"] for r in errors} == FAILING
        assert {r["response"]["status_code"] for r in output} == {200}
    finally:
        server.stop()


def retrieve(server: ServerProcess, batch_id: str) -> dict[str, Any]:
    status, batch, _ = http("GET", f"{server.base_url}/v1/batches/{batch_id}", key=server.admin_key)
    assert status == 200, batch
    return batch


def file_lines(server: ServerProcess, file_id: str) -> list[dict[str, Any]]:
    status, content, _ = http("GET", f"{server.base_url}/v1/files/{file_id}/content", key=server.admin_key)
    assert status == 200, content
    return [json.loads(line) for line in content.splitlines()] if isinstance(content, str) else [content]
