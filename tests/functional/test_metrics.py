"""The API function's metrics (CloudWatch EMF lines on stdout) and its structured log lines."""

from __future__ import annotations

import json

from apigw import Caller, call
from steps import complete, put, register, take

from taskq.observability import PowertoolsTelemetry
from taskq.service import QueueService


def emf_counts(output: str) -> dict[str, int]:
    """Metric name -> summed value over every EMF line printed."""
    counts: dict[str, int] = {}
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                name = definition["Name"]
                values = document[name] if isinstance(document[name], list) else [document[name]]
                counts[name] = counts.get(name, 0) + int(sum(values))
    return counts


def test_puts_takes_completes_and_lost_claims_are_counted(
    admin: Caller, producer: Caller, worker: Caller, store, clock, callback_guard, serve, capsys, caplog, monkeypatch
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    serve(QueueService(store, clock, callback_guard=callback_guard, telemetry=PowertoolsTelemetry()))
    register(admin, "m")
    put(producer, "m")
    put(producer, "m")
    stale = store.find_ready  # a concurrent taker claims the head first: this take loses one claim

    def beaten_to_it(queue, now, limit, **kwargs):
        found = stale(queue, now, limit, **kwargs)
        if found and not beaten_to_it.done:
            beaten_to_it.done = True
            store.cancel_cleared(found[0].task_id, queue, found[0].start_time, now)
        return found

    beaten_to_it.done = False
    monkeypatch.setattr(store, "find_ready", beaten_to_it)
    [task] = take(worker, ["m:0"], 2)["m:0"]
    complete(worker, task["task_id"], {"status_code": 200}, task["lease_id"])

    output = capsys.readouterr().out
    assert emf_counts(output) == {"TasksPut": 2, "TasksTaken": 1, "ClaimConflicts": 1, "TasksCompleted": 1}
    completed = next(r for r in caplog.records if r.getMessage() == "task completed")
    assert (completed.task_id, completed.queue) == (task["task_id"], "m:0")


def test_the_batched_routes_count_each_task(
    admin: Caller, producer: Caller, worker: Caller, store, clock, callback_guard, serve, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    serve(QueueService(store, clock, callback_guard=callback_guard, telemetry=PowertoolsTelemetry()))
    register(admin, "m")
    tasks = [{"queue": "m", "endpoint": "/v1/x", "data": {"n": n}} for n in range(12)]
    assert call("POST", "/v1/queue/put-batch", {"tasks": [*tasks, {"queue": "m"}]}, producer).status == 200
    taken = take(worker, ["m:0"], 12)["m:0"]
    results = [{"task_id": t["task_id"], "lease_id": t["lease_id"], "result": {}} for t in taken]

    assert call("POST", "/v1/queue/complete-batch", {"results": results}, worker).status == 200

    counts = emf_counts(capsys.readouterr().out)
    assert (counts["TasksPut"], counts["TasksCompleted"]) == (12, 12)
