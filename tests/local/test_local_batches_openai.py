"""The Batch API's batches through the real `openai` client against `taskq serve` (spec §6):
create answers at once, the server's background work validates the file and fans it out into
tasks a worker takes with the ordinary take; a bad file fails naming its lines; cancel; list
paging; another key cannot see the batch."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import openai
import pytest
from local_server_process import ServerProcess, http

from taskq.batches import line_task_id

CHAT = "/v1/chat/completions"


def client(server: ServerProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0, timeout=30)


def new_key(server: ServerProcess, name: str, role: str) -> str:
    status, created, _ = http("POST", f"{server.base_url}/v1/keys", {"name": name, "role": role}, server.admin_key)
    assert status == 201, created
    return created["apikey"]


def jsonl(lines: list[Any]) -> bytes:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()


def requests_for(queue: str, n: int) -> bytes:
    return jsonl(
        [{"custom_id": f"r-{i}", "method": "POST", "url": CHAT, "body": {"model": queue, "i": i}} for i in range(n)]
    )


def wait_for(read, done, seconds: float = 20):
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture(scope="module")
def keys(local_server: ServerProcess) -> dict[str, str]:
    return {
        "alice": new_key(local_server, "alice", "producer"),
        "bob": new_key(local_server, "bob", "producer"),
        "worker": new_key(local_server, "worker", "worker"),
    }


@pytest.fixture
def queue(local_server: ServerProcess) -> str:
    name = f"q-{uuid.uuid4().hex[:10]}"
    status, answer, _ = http(
        "POST", f"{local_server.base_url}/v1/queue/register", {"queue": name, "endpoint": CHAT}, local_server.admin_key
    )
    assert status == 200, answer
    return name


def take_all(server: ServerProcess, key: str, queue: str) -> list[dict[str, Any]]:
    status, answer, _ = http("POST", f"{server.base_url}/v1/queue/take", {"queues": [f"{queue}:1"], "size": 100}, key)
    assert status == 200, answer
    return answer.get(f"{queue}:1", [])


def test_a_batch_is_fanned_out_into_tasks_a_worker_takes(local_server, keys, queue):
    alice = client(local_server, keys["alice"])
    file = alice.files.create(file=("in.jsonl", requests_for(queue, 30)), purpose="batch")

    batch = alice.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h", metadata={"run": "1"})

    assert batch.status == "validating" and batch.id.startswith("BATCH-")
    running = wait_for(lambda: alice.batches.retrieve(batch.id), lambda b: b.status != "validating")
    assert running.status == "in_progress" and running.request_counts.total == 30
    tasks: list[dict[str, Any]] = []  # taken as the fan-out writes them

    def take_more() -> list[dict[str, Any]]:
        tasks.extend(take_all(local_server, keys["worker"], queue))
        return tasks

    wait_for(take_more, lambda t: len(t) >= 30)
    assert sorted(t["custom_id"] for t in tasks) == sorted(f"r-{i}" for i in range(30))
    assert {(t["batch_id"], t["trace_id"], t["response_mode"]) for t in tasks} == {(batch.id, batch.id, "batch")}
    assert running.metadata == {"run": "1"}


def test_a_bad_file_fails_the_batch_naming_its_lines(local_server, keys, queue):
    alice = client(local_server, keys["alice"])
    good = {"custom_id": "a", "method": "POST", "url": CHAT, "body": {"model": queue}}
    file = alice.files.create(file=("bad.jsonl", jsonl([good, good, "{"])), purpose="batch")

    batch = alice.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")

    failed = wait_for(lambda: alice.batches.retrieve(batch.id), lambda b: b.status != "validating")
    assert failed.status == "failed"
    assert [(e.line, e.code) for e in failed.errors.data] == [(2, "duplicate_custom_id"), (3, "invalid_json_line")]
    assert take_all(local_server, keys["worker"], queue) == []


def test_cancel_cancels_the_waiting_requests(local_server, keys, queue):
    alice = client(local_server, keys["alice"])
    file = alice.files.create(file=("in.jsonl", requests_for(queue, 10)), purpose="batch")
    batch = alice.batches.create(
        input_file_id=file.id, endpoint=CHAT, completion_window="1h", extra_headers={"X-Taskq-Queue": queue}
    )
    wait_for(lambda: alice.batches.retrieve(batch.id), lambda b: b.status == "in_progress")

    cancelling = alice.batches.cancel(batch.id)

    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None

    def statuses() -> list[str]:  # each line's task, by its id (taskq.batches.line_task_id)
        answers = [
            http("GET", f"{local_server.base_url}/v1/queue/{line_task_id(batch.id, i)}", key=keys["alice"])
            for i in range(10)
        ]
        return [body["status"] for _, body, _ in answers]

    assert wait_for(statuses, lambda s: set(s) == {"cancelled"}) == ["cancelled"] * 10
    assert take_all(local_server, keys["worker"], queue) == []


def test_list_pages_newest_first_and_another_key_sees_nothing(local_server, keys, queue):
    alice, bob = client(local_server, keys["alice"]), client(local_server, keys["bob"])
    file = alice.files.create(file=("in.jsonl", requests_for(queue, 1)), purpose="batch")
    ids = [alice.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h").id for _ in range(3)]

    page = alice.batches.list(limit=2)

    assert [b.id for b in page.data] == [ids[2], ids[1]] and page.has_more
    listed = [b.id for b in alice.batches.list(limit=2)]  # the client's auto-pagination follows `after`
    assert listed[:3] == list(reversed(ids))
    with pytest.raises(openai.NotFoundError):
        bob.batches.retrieve(ids[0])
    with pytest.raises(openai.NotFoundError):
        bob.batches.cancel(ids[0])
    assert not set(ids) & {b.id for b in bob.batches.list()}


def test_create_complete_and_read_the_output_and_error_files_line_by_line(local_server, keys, queue):
    """The issue's end-to-end path: files.create -> batches.create -> a worker takes and completes
    every request (one failing) -> batches.retrieve until completed -> files.content of the output
    and error files hold every line exactly once."""
    alice = client(local_server, keys["alice"])
    file = alice.files.create(file=("in.jsonl", requests_for(queue, 12)), purpose="batch")
    batch = alice.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
    tasks: list[dict[str, Any]] = []

    def take_more() -> list[dict[str, Any]]:
        tasks.extend(take_all(local_server, keys["worker"], queue))
        return tasks

    wait_for(take_more, lambda t: len(t) >= 12)
    for task in tasks:
        failing = task["custom_id"] == "r-5"
        result = {"status_code": 500 if failing else 200, "body": {"echo": task["data"]["i"]}}
        status, _, _ = http(
            "POST",
            f"{local_server.base_url}/v1/queue/{task['task_id']}/complete",
            result,
            keys["worker"],
            {"X-Lease-Id": task["lease_id"]},
        )
        assert status == 200

    done = wait_for(lambda: alice.batches.retrieve(batch.id), lambda b: b.status == "completed")

    assert done.status == "completed"
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (12, 11, 1)
    output = [json.loads(x) for x in alice.files.content(done.output_file_id).text.splitlines()]
    errors = [json.loads(x) for x in alice.files.content(done.error_file_id).text.splitlines()]
    assert sorted(x["custom_id"] for x in output + errors) == sorted(f"r-{i}" for i in range(12))
    assert [(x["custom_id"], x["error"]["code"], x["response"]["status_code"]) for x in errors] == [
        ("r-5", "failed", 500)
    ]
    for x in output:
        assert x["response"]["status_code"] == 200 and x["response"]["body"] == {"echo": int(x["custom_id"][2:])}
    with pytest.raises(openai.NotFoundError):
        client(local_server, keys["bob"]).files.content(done.output_file_id)
