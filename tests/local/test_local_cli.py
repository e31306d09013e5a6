"""The `taskq` command line against a running local server, and its table rendering."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

from local_server_process import ServerProcess, server_environment

from taskq_local.cli import build_parser, render_table, request_for


def taskq(server: ServerProcess, *args: str, key: str | None = None) -> subprocess.CompletedProcess:
    env = server_environment(TASKQ_API_KEY=key if key is not None else server.admin_key)
    command = [sys.executable, "-m", "taskq_local.cli", *args, "--url", server.base_url]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_client_commands_end_to_end(local_server: ServerProcess):
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    assert json.loads(taskq(local_server, "register", queue, "/v1/embeddings").stdout) == queue
    put = taskq(local_server, "put", queue, "--endpoint", "/v1/embeddings", "--data", '{"input": "hi"}', "--level", "2")
    task_id = json.loads(put.stdout)["data"]
    taken = json.loads(taskq(local_server, "take", f"{queue}:2", "--size", "5", "--process-timeout", "60").stdout)
    (task,) = taken[f"{queue}:2"]
    assert task["task_id"] == task_id and task["data"] == {"input": "hi"}
    done = taskq(local_server, "complete", task_id, "--lease-id", task["lease_id"], "--result", '{"status_code": 500}')
    assert json.loads(done.stdout) == task_id
    assert json.loads(taskq(local_server, "get", task_id).stdout)["status"] == "failed"
    assert json.loads(taskq(local_server, "take", f"{queue}:2").stdout) == {}


def test_cancel_a_waiting_task(local_server: ServerProcess):
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    taskq(local_server, "register", queue, "/v1/x")
    task_id = json.loads(taskq(local_server, "put", queue, "--endpoint", "/v1/x", "--data", "{}").stdout)["data"]
    assert json.loads(taskq(local_server, "cancel", task_id).stdout) == task_id
    assert json.loads(taskq(local_server, "get", task_id).stdout)["status"] == "cancelled"


def test_non_2xx_prints_the_error_body_to_stderr_and_exits_non_zero(local_server: ServerProcess):
    missing = taskq(local_server, "get", "TASK-0-missing")
    assert missing.returncode == 1 and missing.stdout == ""
    assert json.loads(missing.stderr)["code"] == 404
    unauthorized = taskq(local_server, "get", "TASK-0-missing", key="wrong")
    assert unauthorized.returncode == 1 and json.loads(unauthorized.stderr)["code"] == 401


def test_stats_prints_a_queue_levels_counters(local_server: ServerProcess):
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    taskq(local_server, "register", queue, "/v1/x")
    taskq(local_server, "put", queue, "--endpoint", "/v1/x", "--data", "{}")
    deadline = time.monotonic() + 3  # counters follow the stream, a fraction of a second behind
    while (stats := json.loads(taskq(local_server, "stats", f"{queue}:0").stdout))["total_put_cnt"] != 1:
        assert time.monotonic() < deadline, stats
        time.sleep(0.1)
    assert (stats["queue"], stats["level"], stats["waiting"]) == (queue, 0, 1)
    unknown = taskq(local_server, "stats", f"unknown-{queue}:0")
    assert unknown.returncode == 1 and json.loads(unknown.stderr)["code"] == 404


def test_unreachable_server_exits_2(local_server: ServerProcess):
    env = server_environment()
    command = [sys.executable, "-m", "taskq_local.cli", "get", "TASK-1", "--url", "http://127.0.0.1:9"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "cannot reach" in done.stderr


def test_requests_built_from_arguments():
    parse = build_parser().parse_args
    method, path, body, headers = request_for(
        parse(["put", "q", "--endpoint", "/e", "--data", '{"a": 1}', "--idempotency-key", "k1", "--timeout", "60"])
    )
    assert (method, path, headers) == ("POST", "/v1/queue/put", {"Idempotency-Key": "k1"})
    assert body == {"queue": "q", "endpoint": "/e", "level": 0, "data": {"a": 1}, "timeout": 60}
    _, _, body, _ = request_for(parse(["take", "a:0", "b:1", "--strategy", "round_robin", "--max-retries", "-1"]))
    assert body == {"queues": ["a:0", "b:1"], "size": 1, "strategy": "round_robin", "process_max_retries": -1}
    assert request_for(parse(["get", "TASK/1"]))[:2] == ("GET", "/v1/queue/TASK%2F1")
    assert request_for(parse(["stats", "q:0"]))[:2] == ("GET", "/v1/queue/q:0/stats")


def test_tables_for_a_terminal():
    take = {"q:0": [{"task_id": "TASK-1", "status": "running", "level": 0, "data": {"x": 1}, "lease_id": "L-1"}]}
    lines = render_table(take).splitlines()
    assert lines[0].split() == ["QUEUE", "TASK_ID", "STATUS", "LEVEL", "LEASE_ID"]
    assert lines[1].split() == ["q:0", "TASK-1", "running", "0", "L-1"]
    assert render_table({}) == "(no tasks)"
    assert render_table("TASK-1") == "TASK-1"
    task = render_table({"task_id": "TASK-1", "data": {"x": 1}}).splitlines()
    assert task == ["task_id  TASK-1", 'data     {"x": 1}']


def test_put_batch_and_complete_batch_from_json_lines(local_server: ServerProcess, tmp_path):
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    taskq(local_server, "register", queue, "/v1/x")
    puts = tmp_path / "puts.jsonl"
    lines = [{"queue": queue, "endpoint": "/v1/x", "data": {"n": n}, "idempotency_key": f"k-{n}"} for n in range(3)]
    puts.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")

    put = taskq(local_server, "put-batch", str(puts))
    assert put.returncode == 0, put.stderr
    ids = [row["task_id"] for row in json.loads(put.stdout)]
    assert json.loads(taskq(local_server, "put-batch", str(puts)).stdout) == [
        {"task_id": task_id, "code": 200} for task_id in ids
    ]  # the keys make a repeat create nothing

    taken = json.loads(taskq(local_server, "take", f"{queue}:0", "--size", "5").stdout)[f"{queue}:0"]
    assert [t["task_id"] for t in taken] == ids
    results = tmp_path / "results.jsonl"
    items = [{"task_id": t["task_id"], "lease_id": t["lease_id"], "result": {"status_code": 200}} for t in taken]
    results.write_text("\n".join(json.dumps(i) for i in [*items[:2], items[2] | {"lease_id": "LEASE-stale"}]))

    done = taskq(local_server, "complete-batch", str(results))
    assert done.returncode == 1  # one item was refused
    rows = json.loads(done.stdout)
    assert [(r["task_id"], r["code"]) for r in rows] == [(ids[0], 200), (ids[1], 200), (ids[2], 409)]
    assert rows[2]["message"].startswith("X-Lease-Id:")


def test_shards_raises_a_queue_levels_shard_count_and_never_lowers_it(local_server: ServerProcess):
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    taskq(local_server, "register", queue, "/v1/x")
    raised = taskq(local_server, "shards", f"{queue}:1", "4", "--json")
    assert json.loads(raised.stdout) == {"queue": queue, "level": 1, "endpoint": "/v1/x", "shards": 4}
    assert request_for(build_parser().parse_args(["shards", "q:1", "4"])) == (
        "POST",
        "/v1/console/q:1/shards",
        {"shards": 4},
        {},
    )
    lowered = taskq(local_server, "shards", f"{queue}:1", "2")
    assert lowered.returncode == 1 and json.loads(lowered.stderr)["code"] == 409
    assert "shards" in json.loads(lowered.stderr)["message"]
    # tasks put now spread over the 4 shards, and a take still finds every one of them
    for i in range(8):
        taskq(local_server, "put", queue, "--endpoint", "/v1/x", "--data", json.dumps({"i": i}), "--level", "1")
    taken = json.loads(taskq(local_server, "take", f"{queue}:1", "--size", "8").stdout)[f"{queue}:1"]
    assert sorted(t["data"]["i"] for t in taken) == list(range(8))
