"""/v1/batches (spec §6): create answers at once (validating), the runner validates the file
before any task exists and fans it out into one task per line, resumably; retrieve, list and
cancel, each key seeing only its own batches (admin: all). Then the batch's end: request_counts
follow the tasks as they end; when every request has ended the output file (2xx) and the error
file (every other end, with `error.code`) are written, every input line in exactly one of them;
cancel ends with partial output, the deadline with `expired` and `batch_expired` lines; a
finalization killed half-way is redone the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from apigw import Caller, call
from files_support import BUCKET, create_bucket, query_get
from steps import complete, register, take

from taskq.batch_runner import CHUNK, BatchRunner
from taskq.batches import BatchService, line_task_id
from taskq.clock import ManualClock
from taskq.files import FileService
from taskq.models import Principal, Role
from taskq.store import DynamoStore, FileObjects
from taskq.store.keys import ready_shard
from taskq.sweeper import Sweeper
from taskq_api.app import app
from taskq_api.dependencies import get_batch_service, get_file_service

CHAT = "/v1/chat/completions"
ERROR_FIELDS = {"code", "message", "timestamp"}
FAR = 10**15  # a run's time budget that never ends (the ManualClock moves only when told)


class RecordingStarter:
    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, batch_id: str) -> None:
        self.started.append(batch_id)


@pytest.fixture
def objects(dynamodb: object) -> FileObjects:
    s3 = boto3.client("s3", region_name="us-east-1")
    create_bucket(s3)
    return FileObjects(s3, BUCKET)


@pytest.fixture
def starter() -> RecordingStarter:
    return RecordingStarter()


@pytest.fixture(autouse=True)
def services(store: DynamoStore, clock: ManualClock, objects: FileObjects, starter: RecordingStarter) -> Iterator[None]:
    files = FileService(store, objects, clock)
    batches = BatchService(store, files, clock, starter)
    app.dependency_overrides[get_file_service] = lambda: files
    app.dependency_overrides[get_batch_service] = lambda: batches
    yield
    app.dependency_overrides.pop(get_file_service, None)
    app.dependency_overrides.pop(get_batch_service, None)


@pytest.fixture
def runner(store: DynamoStore, objects: FileObjects, clock: ManualClock) -> BatchRunner:
    return BatchRunner(store, objects, clock)


@pytest.fixture(autouse=True)
def queues(admin: Caller) -> None:
    register(admin, "chat")


def line(custom_id: str, body: Any = None, **overrides: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": CHAT,
        "body": body or {"model": "chat", "n": custom_id},
    } | overrides


def jsonl(lines: list[Any]) -> bytes:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()


def upload(store: DynamoStore, objects: FileObjects, clock: ManualClock, caller: Caller, content: bytes) -> str:
    principal = Principal(caller.ak, Role(caller.role), caller.queues)
    return FileService(store, objects, clock).upload(principal, "in.jsonl", "batch", content).file_id


@pytest.fixture
def uploaded(store, objects, clock, producer):
    def upload_as(content: bytes, caller: Caller = producer) -> str:
        return upload(store, objects, clock, caller, content)

    return upload_as


def create(caller: Caller, file_id: str, headers: dict[str, str] | None = None, **fields: Any):
    body = {"input_file_id": file_id, "endpoint": CHAT, "completion_window": "24h"} | fields
    return call("POST", "/v1/batches", body, caller, headers)


def created(caller: Caller, file_id: str, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    answer = create(caller, file_id, headers, **fields)
    assert answer.status == 200, answer
    return answer.body


def retrieve(caller: Caller, batch_id: str) -> dict[str, Any]:
    answer = call("GET", f"/v1/batches/{batch_id}", None, caller)
    assert answer.status == 200, answer
    return answer.body


def all_tasks(dynamodb) -> list[dict[str, Any]]:
    items = []
    for page in dynamodb.get_paginator("scan").paginate(TableName="taskq-tasks"):
        items += page["Items"]
    return items


def assert_error(answer, status: int, *words: str) -> None:
    assert answer.status == status, answer
    assert set(answer.body) == ERROR_FIELDS and answer.body["code"] == status, answer.body
    for word in words:
        assert word in answer.body["message"], answer.body


# --- create and validation ----------------------------------------------------------------------


def test_create_answers_validating_at_once_and_starts_the_runner(producer, uploaded, clock, starter, dynamodb):
    file_id = uploaded(jsonl([line("a"), line("b")]))

    batch = created(producer, file_id, metadata={"project": "x"})

    now = clock.now_ms() // 1000
    assert batch["id"].startswith("BATCH-") and batch["object"] == "batch"
    assert (batch["status"], batch["input_file_id"], batch["endpoint"]) == ("validating", file_id, CHAT)
    assert (batch["created_at"], batch["expires_at"]) == (now, now + 24 * 3600)
    assert batch["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert batch["metadata"] == {"project": "x"}
    assert batch["in_progress_at"] is None and batch["errors"] is None and batch["output_file_id"] is None
    assert starter.started == [batch["id"]]
    assert all_tasks(dynamodb) == []  # no task before the runner validated the file


def test_the_runner_fans_each_line_out_into_one_task(producer, worker, uploaded, runner, clock):
    file_id = uploaded(jsonl([line("a"), line("b", {"model": "chat", "q": "été"}), line("c")]))
    batch = created(producer, file_id, completion_window="2h")
    clock.advance(seconds=3)

    runner.run(batch["id"], FAR)

    running = retrieve(producer, batch["id"])
    assert running["status"] == "in_progress"
    assert running["in_progress_at"] == clock.now_ms() // 1000
    assert running["request_counts"]["total"] == 3
    taken = take(worker, ["chat:1"], 10)["chat:1"]
    assert sorted(t["custom_id"] for t in taken) == ["a", "b", "c"]
    by_custom_id = {t["custom_id"]: t for t in taken}
    assert by_custom_id["b"]["data"] == {"model": "chat", "q": "été"}
    for i, custom_id in enumerate("abc"):
        task = by_custom_id[custom_id]
        assert task["task_id"] == line_task_id(batch["id"], i)
        assert (task["batch_id"], task["trace_id"]) == (batch["id"], batch["id"])
        assert (task["response_mode"], task["endpoint"], task["queue"], task["level"]) == ("batch", CHAT, "chat", 1)
        # the batch's deadline: its creation (ms, in its id) + the completion window
        assert task["expire_time"] == int(batch["id"][6:19]) + 2 * 3_600_000
        assert task["ak"] == producer.ak


def test_the_queue_and_level_headers_choose_where_the_tasks_go(producer, admin, worker, uploaded, runner):
    register(admin, "other")
    file_id = uploaded(jsonl([line("a")]))  # its body.model says "chat"
    batch = created(producer, file_id, {"X-BELLA-QUEUE-NAME": "other", "X-Taskq-Level": "3"})

    runner.run(batch["id"], FAR)

    assert [t["custom_id"] for t in take(worker, ["other:3"], 10)["other:3"]] == ["a"]
    assert take(worker, ["chat:1"], 10) == {}


def test_a_sharded_queue_level_gets_its_batch_tasks_spread_over_its_shards(
    producer, admin, worker, uploaded, runner, store
):
    raised = call("POST", "/v1/console/chat:1/shards", {"shards": 4}, admin)
    assert raised.status == 200, raised
    file_id = uploaded(jsonl([line(f"l{i}") for i in range(24)]))
    batch = created(producer, file_id)

    runner.run(batch["id"], FAR)

    ids = [line_task_id(batch["id"], i) for i in range(24)]
    assert [store.get_task(t).shard for t in ids] == [ready_shard(t, 4) for t in ids]
    assert len({ready_shard(t, 4) for t in ids}) > 1
    taken = take(worker, ["chat:1"], 30)["chat:1"]
    assert sorted(t["custom_id"] for t in taken) == sorted(f"l{i}" for i in range(24))


def test_a_bad_file_fails_the_batch_naming_its_lines_and_creates_no_task(producer, uploaded, runner, dynamodb):
    file_id = uploaded(
        jsonl([line("a"), line("b", url="/v1/embeddings"), line("a"), "{not json", line("e", method="GET")])
    )
    batch = created(producer, file_id)

    runner.run(batch["id"], FAR)

    failed = retrieve(producer, batch["id"])
    assert failed["status"] == "failed" and failed["failed_at"] is not None
    errors = failed["errors"]["data"]
    assert [(e["line"], e["code"]) for e in errors] == [
        (2, "invalid_url"),
        (3, "duplicate_custom_id"),
        (4, "invalid_json_line"),
        (5, "invalid_request"),
    ]
    assert "method" in errors[3]["message"]
    assert all_tasks(dynamodb) == []
    runner.run(batch["id"], FAR)  # a failed batch stays failed
    assert retrieve(producer, batch["id"])["status"] == "failed"


def test_a_queue_that_is_not_registered_or_not_the_keys_fails_the_batch(admin, uploaded, runner, dynamodb):
    narrow = Caller("ak-producer-narrow", "producer", ("chat-*",))
    unknown = created(admin, uploaded(jsonl([line("a", {"model": "nowhere"})]), admin))
    outside = created(narrow, uploaded(jsonl([line("a")]), narrow))  # body.model "chat" is not chat-*

    runner.run_all(FAR)

    assert "not registered" in retrieve(admin, unknown["id"])["errors"]["data"][0]["message"]
    assert "outside" in retrieve(narrow, outside["id"])["errors"]["data"][0]["message"]
    assert all_tasks(dynamodb) == []


@pytest.mark.parametrize(
    "fields, status, word",
    [
        ({"completion_window": "0h"}, 400, "completion_window"),
        ({"completion_window": "169h"}, 400, "completion_window"),
        ({"completion_window": "1d"}, 400, "completion_window"),
        ({"input_file_id": "file-nothing"}, 404, "input_file_id"),
        ({"endpoint": ""}, 400, "endpoint"),
    ],
)
def test_create_refuses_bad_fields_naming_them(producer, uploaded, fields, status, word):
    file_id = uploaded(jsonl([line("a")]))
    body = {"input_file_id": file_id, "endpoint": CHAT} | fields

    assert_error(call("POST", "/v1/batches", body, producer), status, word)


def test_create_refuses_bad_headers_another_keys_file_and_a_worker(producer, worker, uploaded):
    file_id = uploaded(jsonl([line("a")]))
    narrow = Caller("ak-producer-narrow", "producer", ("chat-*",))

    assert_error(create(producer, file_id, {"X-Taskq-Level": "0"}), 400, "X-Taskq-Level")
    assert_error(create(producer, file_id, {"X-Taskq-Level": "x"}), 400, "X-Taskq-Level")
    assert_error(create(producer, file_id, {"X-Taskq-Queue": "a b"}), 400, "X-Taskq-Queue")
    assert_error(create(narrow, uploaded(jsonl([line("a")]), narrow), {"X-Taskq-Queue": "chat"}), 403, "chat")
    assert_error(create(Caller("ak-producer-0002", "producer"), file_id), 404, "input_file_id")
    assert_error(create(worker, file_id), 403, "producer")


# --- resumable fan-out --------------------------------------------------------------------------


class Crash(Exception):
    pass


def crash_before(store: DynamoStore, monkeypatch: pytest.MonkeyPatch, step: str, n: int) -> None:
    """The process dies just before its `n`-th fan-out `step` (counting from 0): "write", a chunk's
    transaction (after `n` chunks committed), or "cursor", a chunk's cursor move (its transaction
    committed, the cursor not moved: the resumed run writes that chunk again)."""
    db = store._db
    target = {"write": (db, "transact_write_items"), "cursor": (store, "advance_cursor")}[step]
    original = getattr(*target)
    count = {"n": 0}

    def call(*args, **kwargs):
        if count["n"] == n:
            raise Crash()
        count["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(*target, call)


@pytest.mark.parametrize(
    ("step", "n"), [("write", 0), ("cursor", 0), ("write", 1), ("cursor", 1), ("write", 2), ("cursor", 2)]
)
def test_a_fan_out_killed_at_any_step_resumes_with_no_task_twice_and_none_missing(
    producer, uploaded, store, objects, clock, dynamodb, monkeypatch, step, n
):
    total = 2 * CHUNK + 10
    batch = created(producer, uploaded(jsonl([line(f"r{i}") for i in range(total)])))
    crash_before(store, monkeypatch, step, n)
    with pytest.raises(Crash):
        BatchRunner(store, objects, clock).run(batch["id"], clock.now_ms() + 1000)
    monkeypatch.undo()
    clock.advance(seconds=2)  # the dead run's lease has ended

    BatchRunner(store, objects, clock).run_all(clock.now_ms() + 1000)

    items = all_tasks(dynamodb)
    ids = [i["task_id"]["S"] for i in items]
    assert len(ids) == len(set(ids)) == total
    assert sorted(i["custom_id"]["S"] for i in items) == sorted(f"r{i}" for i in range(total))
    assert set(ids) == {line_task_id(batch["id"], i) for i in range(total)}
    assert retrieve(producer, batch["id"])["request_counts"]["total"] == total
    assert store.get_batch(batch["id"]).cursor == total


def test_a_resumed_fan_out_leaves_tasks_already_taken_as_they_are(
    producer, worker, uploaded, store, objects, clock, monkeypatch
):
    batch = created(producer, uploaded(jsonl([line(f"r{i}") for i in range(CHUNK + 5)])))
    crash_before(store, monkeypatch, "cursor", 1)  # the second chunk written, its cursor not moved
    with pytest.raises(Crash):
        BatchRunner(store, objects, clock).run(batch["id"], clock.now_ms() + 1000)
    monkeypatch.undo()
    taken = take(worker, ["chat:1"], 100)["chat:1"] + take(worker, ["chat:1"], 100)["chat:1"]
    assert len(taken) == CHUNK + 5  # every line, those the resumed run writes again among them
    clock.advance(seconds=2)  # the dead run's lease has ended

    BatchRunner(store, objects, clock).run(batch["id"], clock.now_ms() + 1000)

    for task in taken:
        again = store.get_task(task["task_id"])
        assert (again.status.value, again.lease_id) == ("running", task["lease_id"]), task["custom_id"]
    assert take(worker, ["chat:1"], 100) == {}  # nothing written twice
    assert store.get_batch(batch["id"]).cursor == CHUNK + 5


def test_a_fan_out_writes_a_transaction_per_hundred_lines(producer, uploaded, store, objects, clock, monkeypatch):
    batch = created(producer, uploaded(jsonl([line(f"r{i}") for i in range(2 * CHUNK + 10)])))
    sent: list[str] = []
    for name in ("transact_write_items", "put_item"):
        original = getattr(store._db, name)
        monkeypatch.setattr(
            store._db, name, lambda *a, _name=name, _original=original, **k: sent.append(_name) or _original(*a, **k)
        )

    BatchRunner(store, objects, clock).run(batch["id"], clock.now_ms() + 1000)

    assert CHUNK == 100 and sent == ["transact_write_items"] * 3


def test_a_run_out_of_time_stops_between_chunks_and_the_next_continues(
    producer, uploaded, store, objects, clock, dynamodb
):
    batch = created(producer, uploaded(jsonl([line(f"r{i}") for i in range(3 * CHUNK)])))
    runner = BatchRunner(store, objects, clock)
    original = store.advance_cursor

    def advance_and_tick(*args):
        clock.advance(seconds=1)
        return original(*args)

    store.advance_cursor = advance_and_tick  # type: ignore[method-assign]
    more = runner.run(batch["id"], clock.now_ms() + 1500)  # time for two chunks

    assert more is True
    assert len(all_tasks(dynamodb)) == 2 * CHUNK
    assert runner.run(batch["id"], clock.now_ms() + 10_000) is False
    assert len(all_tasks(dynamodb)) == 3 * CHUNK
    assert store.get_batch(batch["id"]).cursor == 3 * CHUNK


# --- retrieve, list, cancel ---------------------------------------------------------------------


def test_another_key_gets_404_an_admin_sees_every_batch(producer, admin, uploaded):
    batch = created(producer, uploaded(jsonl([line("a")])))
    other = Caller("ak-producer-0002", "producer")

    assert_error(call("GET", f"/v1/batches/{batch['id']}", None, other), 404, batch["id"])
    assert_error(call("POST", f"/v1/batches/{batch['id']}/cancel", None, other), 404, batch["id"])
    assert query_get("/v1/batches", other).body["data"] == []
    assert retrieve(admin, batch["id"])["id"] == batch["id"]


def test_list_is_newest_first_and_pages(producer, admin, uploaded, clock):
    file_id = uploaded(jsonl([line("a")]))
    ids = []
    for _ in range(5):
        ids.append(created(producer, file_id)["id"])
        clock.advance(ms=1)

    first = query_get("/v1/batches?limit=2", producer).body
    assert [b["id"] for b in first["data"]] == [ids[4], ids[3]] and first["has_more"] is True
    second = query_get(f"/v1/batches?limit=2&after={first['last_id']}", producer).body
    assert [b["id"] for b in second["data"]] == [ids[2], ids[1]] and second["has_more"] is True
    last = query_get(f"/v1/batches?limit=2&after={second['last_id']}", producer).body
    assert [b["id"] for b in last["data"]] == [ids[0]] and last["has_more"] is False
    assert [b["id"] for b in query_get("/v1/batches", admin).body["data"]] == list(reversed(ids))
    assert_error(query_get("/v1/batches?limit=101", producer), 400, "limit")


def test_cancel_cancels_waiting_tasks_and_leaves_running_ones(
    producer, worker, uploaded, runner, store, clock, starter
):
    batch = created(producer, uploaded(jsonl([line(f"r{i}") for i in range(4)])))
    runner.run(batch["id"], FAR)
    [running] = take(worker, ["chat:1"], 1)["chat:1"]

    answer = call("POST", f"/v1/batches/{batch['id']}/cancel", None, producer)

    assert answer.status == 200 and answer.body["status"] == "cancelling"
    assert answer.body["cancelling_at"] == clock.now_ms() // 1000
    assert starter.started == [batch["id"], batch["id"]]
    runner.run(batch["id"], FAR)
    statuses = {i: store.get_task(line_task_id(batch["id"], i)).status.value for i in range(4)}
    assert sorted(statuses.values()) == ["cancelled", "cancelled", "cancelled", "running"]
    assert store.get_task(running["task_id"]).status.value == "running"
    assert take(worker, ["chat:1"], 10) == {}
    assert call("POST", f"/v1/batches/{batch['id']}/cancel", None, producer).body["status"] == "cancelling"


def test_a_cancel_is_carried_out_by_the_scheduled_run(producer, worker, uploaded, runner, store):
    """A run over the worklist (the schedule; locally the background job) does the cancelling
    even when the start the API asked for never arrives, and takes the batch off the list."""
    batch = created(producer, uploaded(jsonl([line(f"r{i}") for i in range(3)])))
    runner.run(batch["id"], FAR)

    assert call("POST", f"/v1/batches/{batch['id']}/cancel", None, producer).status == 200
    runner.run_all(FAR)

    assert take(worker, ["chat:1"], 10) == {}
    assert store.batch_runs() == []


def test_a_batch_cancelled_while_validating_is_cancelled_with_no_task(producer, uploaded, runner, dynamodb):
    batch = created(producer, uploaded(jsonl([line("a")])))

    assert call("POST", f"/v1/batches/{batch['id']}/cancel", None, producer).body["status"] == "cancelling"
    runner.run(batch["id"], FAR)

    cancelled = retrieve(producer, batch["id"])
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None
    assert all_tasks(dynamodb) == []


def test_a_failed_batch_cannot_be_cancelled(producer, uploaded, runner):
    batch = created(producer, uploaded(jsonl(["nope"])))
    runner.run(batch["id"], FAR)

    assert_error(call("POST", f"/v1/batches/{batch['id']}/cancel", None, producer), 409, "failed")


# --- the end: counts, output and error files ---------------------------------------------------


def content(caller: Caller, file_id: str) -> list[dict[str, Any]]:
    from apigw import LambdaContextStub, build_event

    from taskq_api.app import lambda_handler

    answer = lambda_handler(build_event("GET", f"/v1/files/{file_id}/content", None, caller), LambdaContextStub())
    assert answer["statusCode"] == 200, answer
    return [json.loads(x) for x in answer["body"].splitlines()]


def fanned_out(producer, uploaded, runner, n: int, **fields: Any) -> dict[str, Any]:
    batch = created(producer, uploaded(jsonl([line(f"r{i}") for i in range(n)])), **fields)
    runner.run(batch["id"], FAR)
    return batch


def take_lines(worker: Caller, batch_id: str) -> dict[int, dict[str, Any]]:
    """Every takeable task of the batch, by line."""
    by_id = {t["task_id"]: t for t in take(worker, ["chat:1"], 100).get("chat:1", [])}
    return {i: by_id[line_task_id(batch_id, i)] for i in range(100) if line_task_id(batch_id, i) in by_id}


def finish(worker: Caller, task: dict[str, Any], status_code: int = 200) -> None:
    result = {"status_code": status_code, "body": {"answer": task["custom_id"]}}
    assert complete(worker, task["task_id"], result, task["lease_id"]).status == 200


def test_counts_follow_the_tasks_and_the_files_hold_every_line_once(producer, worker, uploaded, runner, clock):
    batch = fanned_out(producer, uploaded, runner, 4)
    tasks = take_lines(worker, batch["id"])
    finish(worker, tasks[0])
    finish(worker, tasks[1], status_code=500)
    finish(worker, tasks[2])

    runner.run(batch["id"], FAR)

    live = retrieve(producer, batch["id"])
    assert live["status"] == "in_progress"
    assert live["request_counts"] == {"total": 4, "completed": 2, "failed": 1}
    finish(worker, tasks[3])
    clock.advance(seconds=7)

    runner.run(batch["id"], FAR)

    done = retrieve(producer, batch["id"])
    assert done["status"] == "completed"
    assert done["request_counts"] == {"total": 4, "completed": 3, "failed": 1}
    assert done["finalizing_at"] == done["completed_at"] == clock.now_ms() // 1000
    output, errors = content(producer, done["output_file_id"]), content(producer, done["error_file_id"])
    assert sorted(x["custom_id"] for x in output) == ["r0", "r2", "r3"]
    assert [x["custom_id"] for x in errors] == ["r1"]
    for x in output:
        assert x["error"] is None and x["id"] == tasks[int(x["custom_id"][1:])]["task_id"]
        assert x["response"] == {"status_code": 200, "request_id": x["id"], "body": {"answer": x["custom_id"]}}
    assert errors[0]["error"]["code"] == "failed" and errors[0]["response"]["status_code"] == 500
    other = Caller("ak-producer-0002", "producer")
    assert call("GET", f"/v1/files/{done['output_file_id']}", None, other).status == 404


def test_cancel_ends_with_the_partial_output(producer, worker, uploaded, runner):
    batch = fanned_out(producer, uploaded, runner, 4)
    [running] = take(worker, ["chat:1"], 1)["chat:1"]
    call("POST", f"/v1/batches/{batch['id']}/cancel", None, producer)

    runner.run(batch["id"], FAR)

    assert retrieve(producer, batch["id"])["status"] == "cancelling"  # the running request may finish
    finish(worker, running)
    runner.run(batch["id"], FAR)

    cancelled = retrieve(producer, batch["id"])
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None
    assert [x["custom_id"] for x in content(producer, cancelled["output_file_id"])] == [running["custom_id"]]
    errors = content(producer, cancelled["error_file_id"])
    assert sorted(x["custom_id"] for x in errors) == sorted({"r0", "r1", "r2", "r3"} - {running["custom_id"]})
    assert {x["error"]["code"] for x in errors} == {"batch_cancelled"}
    assert cancelled["request_counts"] == {"total": 4, "completed": 1, "failed": 3}


@pytest.mark.parametrize("swept_first", [False, True], ids=["runner-first", "sweeper-first"])
def test_the_deadline_expires_the_batch_and_reports_what_did_not_end(
    producer, worker, uploaded, runner, store, clock, swept_first
):
    batch = fanned_out(producer, uploaded, runner, 3, completion_window="1h")
    [first] = take(worker, ["chat:1"], 1)["chat:1"]
    finish(worker, first)
    take(worker, ["chat:1"], 1)  # one more runs past the deadline; the third never leaves waiting
    clock.advance(seconds=3601)
    if swept_first:  # the tasks' expire_time is the deadline: the sweeper may end them first, as timeout
        Sweeper(store, clock).sweep()

    runner.run(batch["id"], FAR)

    expired = retrieve(producer, batch["id"])
    assert expired["status"] == "expired" and expired["expired_at"] == clock.now_ms() // 1000
    assert [x["custom_id"] for x in content(producer, expired["output_file_id"])] == [first["custom_id"]]
    errors = content(producer, expired["error_file_id"])
    assert sorted(x["custom_id"] for x in errors) == sorted({"r0", "r1", "r2"} - {first["custom_id"]})
    assert {x["error"]["code"] for x in errors} == {"batch_expired"}


def test_a_finalization_killed_between_its_files_is_redone_the_same(
    producer,
    worker,
    uploaded,
    runner,
    store,
    objects,
    clock,
    monkeypatch,
):
    batch = fanned_out(producer, uploaded, runner, 3)
    tasks = take_lines(worker, batch["id"])
    for i, task in tasks.items():
        finish(worker, task, status_code=200 if i else 503)
    original = objects.put
    puts: list[str] = []

    def put_then_die(file_id, data, content_type):
        puts.append(file_id)
        if len(puts) == 2:  # the output file is written, the error file's put never happens
            raise Crash()
        return original(file_id, data, content_type)

    monkeypatch.setattr(objects, "put", put_then_die)
    with pytest.raises(Crash):
        BatchRunner(store, objects, clock).run(batch["id"], clock.now_ms() + 1000)
    monkeypatch.undo()
    assert retrieve(producer, batch["id"])["status"] == "finalizing"
    clock.advance(seconds=2)  # the dead run's lease has ended

    BatchRunner(store, objects, clock).run_all(clock.now_ms() + 1000)

    done = retrieve(producer, batch["id"])
    assert done["status"] == "completed" and done["output_file_id"] == puts[0]
    assert sorted(x["custom_id"] for x in content(producer, done["output_file_id"])) == ["r1", "r2"]
    assert [x["custom_id"] for x in content(producer, done["error_file_id"])] == ["r0"]
    listed = [f["id"] for f in call("GET", "/v1/files", None, producer).body["data"]]
    assert sorted(listed.count(i) for i in (done["output_file_id"], done["error_file_id"])) == [1, 1]
    assert store.batch_runs() == []
