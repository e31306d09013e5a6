"""`POST /v1/queue/complete-batch` (spec §3.13): each item the single complete (§3.4)."""

from __future__ import annotations

import pytest
from apigw import Caller, call
from steps import get, put, register, take

from taskq.store import DynamoStore
from taskq.store.transitions import INLINE_RESULT_BYTES
from tests.faults import FaultPlan, Kind, Scripted, without_backoff

PATH = "/v1/queue/complete-batch"
Q = "test-queue:0"


def complete_batch(caller: Caller, results: object):
    return call("POST", PATH, {"results": results}, caller)


def done(task: dict, result: dict | None = None) -> dict:
    return {"task_id": task["task_id"], "lease_id": task["lease_id"], "result": result or {"status_code": 200}}


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, "test-queue")


def running(producer: Caller, worker: Caller, count: int, queue: str = "test-queue", **fields) -> list[dict]:
    for _ in range(count):
        put(producer, queue)
    return take(worker, [f"{queue}:0"], count, **fields)[f"{queue}:0"]


def test_each_item_completes_its_task_answered_in_order(producer: Caller, worker: Caller) -> None:
    tasks = running(producer, worker, 3)
    results = [{"status_code": 200, "body": "a"}, {"status_code": "503"}, {"body": "no status code"}]

    answer = complete_batch(worker, [done(t, r) for t, r in zip(tasks, results, strict=True)])

    assert answer.status == 200
    assert answer.body["data"] == [{"task_id": t["task_id"], "code": 200} for t in tasks]
    stored = [get(producer, t["task_id"]).body for t in tasks]
    assert [(s["status"], s["result"]) for s in stored] == list(
        zip(["succeeded", "failed", "succeeded"], results, strict=True)
    )


def test_one_bad_item_never_fails_the_others(admin: Caller, producer: Caller, worker: Caller) -> None:
    register(admin, "other-queue")
    ok, stale, repeat, too_large, bad_code = running(producer, worker, 5)
    assert complete_batch(worker, [done(repeat)]).body["data"][0]["code"] == 200
    waiting = put(producer, "test-queue")
    [elsewhere] = running(producer, worker, 1, "other-queue")
    narrow = Caller("ak-worker-narrow", "worker", ("test-*",))

    answer = complete_batch(
        narrow,
        [
            done(ok),
            done(stale) | {"lease_id": "LEASE-stale"},  # 409: not the current lease
            {"task_id": "TASK-0000000000000-unknown", "lease_id": "LEASE-x", "result": {}},  # 404
            {"task_id": waiting, "result": {}},  # 409: waiting
            done(repeat),  # the idempotent repeat: 200
            done(too_large, {"body": "x" * (256 * 1024)}),  # 413
            done(bad_code, {"status_code": "two hundred"}),  # 400
            done(elsewhere),  # outside the key's queues: 404, as for an unknown task
            {"task_id": ok["task_id"], "lease_id": ok["lease_id"]},  # 400: no result
            "not an object",  # 400
        ],
    )

    assert answer.status == 200
    codes = [(entry["task_id"], entry["code"]) for entry in answer.body["data"]]
    assert codes == [
        (ok["task_id"], 200),
        (stale["task_id"], 409),
        ("TASK-0000000000000-unknown", 404),
        (waiting, 409),
        (repeat["task_id"], 200),
        (too_large["task_id"], 413),
        (bad_code["task_id"], 400),
        (elsewhere["task_id"], 404),
        (ok["task_id"], 400),
        (None, 400),
    ]
    messages = [entry.get("message", "") for entry in answer.body["data"]]
    assert messages[1].startswith("X-Lease-Id:")
    assert messages[6].startswith("status_code:")
    assert messages[8].startswith("result:")
    statuses = {t["task_id"]: get(producer, t["task_id"]).body["status"] for t in (ok, stale, too_large, bad_code)}
    assert statuses == {ok["task_id"]: "succeeded", stale["task_id"]: "running"} | {
        t["task_id"]: "running" for t in (too_large, bad_code)
    }
    assert get(producer, elsewhere["task_id"]).body["status"] == "running"


def test_a_large_result_keeps_its_own_item(producer: Caller, worker: Caller, store: DynamoStore) -> None:
    [task] = running(producer, worker, 1)
    large = {"status_code": 200, "body": "x" * INLINE_RESULT_BYTES}

    assert complete_batch(worker, [done(task, large)]).body["data"] == [{"task_id": task["task_id"], "code": 200}]

    assert get(producer, task["task_id"]).body["result"] == large
    assert store.task_result(task["task_id"], task["lease_id"], None) == large


def test_completing_releases_the_sequential_lock(producer: Caller, worker: Caller) -> None:
    [first] = running(producer, worker, 2, strategy="sequential")
    assert take(worker, [Q], 1, strategy="sequential") == {}  # the lock holds the queue

    assert complete_batch(worker, [done(first)]).body["data"][0]["code"] == 200

    [second] = take(worker, [Q], 1, strategy="sequential")[Q]
    assert second["task_id"] != first["task_id"]


def test_the_same_task_twice_finishes_once_with_one_result(producer: Caller, worker: Caller) -> None:
    [task] = running(producer, worker, 1)

    answer = complete_batch(worker, [done(task, {"body": "one"}), done(task, {"body": "two"})])

    assert [entry["code"] for entry in answer.body["data"]] == [200, 200]
    stored = get(producer, task["task_id"]).body
    assert stored["status"] == "succeeded"
    assert stored["result"] in ({"body": "one"}, {"body": "two"})


def test_a_complete_whose_answer_was_lost_is_acknowledged(store: DynamoStore, producer: Caller, worker: Caller) -> None:
    tasks = running(producer, worker, 3)
    plan = FaultPlan(script=[Scripted("UpdateItem", 2, Kind.LOST)])
    plan.attach(without_backoff(store._db))
    try:
        answer = complete_batch(worker, [done(t) for t in tasks])
    finally:
        plan.detach(store._db)

    assert [f.kind for f in plan.injected] == [Kind.LOST]
    assert [entry["code"] for entry in answer.body["data"]] == [200, 200, 200]
    assert {get(producer, t["task_id"]).body["status"] for t in tasks} == {"succeeded"}


def test_an_admin_may_complete(admin: Caller, producer: Caller, worker: Caller) -> None:
    [task] = running(producer, worker, 1)

    assert complete_batch(admin, [done(task)]).body["data"] == [{"task_id": task["task_id"], "code": 200}]


@pytest.mark.parametrize("body", [{}, {"results": {}}, {"results": []}, {"results": [{}] * 101}])
def test_a_body_that_is_not_a_list_of_1_to_100_is_refused_whole(producer: Caller, worker: Caller, body) -> None:
    [task] = running(producer, worker, 1)

    answer = call("POST", PATH, body, worker)

    assert answer.status == 400
    assert answer.body["message"].startswith("results:")
    assert get(producer, task["task_id"]).body["status"] == "running"


def test_a_producer_key_is_refused_whole(producer: Caller, worker: Caller) -> None:
    [task] = running(producer, worker, 1)

    answer = complete_batch(producer, [done(task)])

    assert answer.status == 403
    assert get(producer, task["task_id"]).body["status"] == "running"
