"""`Client.put_batch` and `Client.complete_batch` against the local server (spec §3.13)."""

from __future__ import annotations

from client_support import ENDPOINT
from test_client_api import LoseAnswers

from taskq_client import Client, Conflict, NotFound, Result
from tests.local.local_server_process import ServerProcess


def test_put_batch_then_complete_batch_item_by_item(admin: Client, queue: str) -> None:
    answers = admin.put_batch(
        [
            {"queue": queue, "data": {"n": 1}},
            {"queue": "never-registered-queue", "data": {}, "endpoint": ENDPOINT},
            {"queue": queue, "data": {"n": 2}, "level": 0, "trace_id": "t-2"},
        ]
    )

    first, missing, second = answers
    assert isinstance(missing, NotFound) and missing.status == 404 and "never-registered-queue" in missing.message
    tasks = admin.take([f"{queue}:0"], size=10, process_timeout=30)
    expected = [(first, {"n": 1}, ENDPOINT), (second, {"n": 2}, ENDPOINT)]
    assert [(t.task_id, t.data, t.endpoint) for t in tasks] == expected

    done = admin.complete_batch(
        [(tasks[0].task_id, tasks[0].lease_id, Result(status_code=200, body={"ok": 1})), (second, "LEASE-stale", {})]
    )

    assert done[0] is None
    assert isinstance(done[1], Conflict)
    assert admin.get(first).result == {"status_code": 200, "request_id": first, "body": {"ok": 1}}
    assert admin.get(second).status == "running"


def test_a_put_batch_whose_answer_was_lost_is_sent_again_without_duplicates(server: ServerProcess, queue: str) -> None:
    lossy = LoseAnswers("/v1/queue/put-batch")
    with Client(server.base_url, server.admin_key, transport=lossy, backoff=0.01) as client:
        ids = client.put_batch([{"queue": queue, "data": {"n": n}} for n in range(3)])
        taken = client.take([f"{queue}:0"], size=10)

    assert lossy.sent.count("/v1/queue/put-batch") == 2
    assert sorted(t.task_id for t in taken) == sorted(ids)


def test_more_than_100_items_go_in_requests_of_100(server: ServerProcess, queue: str) -> None:
    counting = LoseAnswers("/v1/queue/put-batch", lose=0)
    with Client(server.base_url, server.admin_key, transport=counting) as client:
        ids = client.put_batch([{"queue": queue, "data": {"n": n}} for n in range(150)])
        tasks = [t for _ in range(2) for t in client.take([f"{queue}:0"], size=100, process_timeout=30)]
        done = client.complete_batch([(t.task_id, t.lease_id, {"status_code": 200}) for t in tasks])

    assert counting.sent.count("/v1/queue/put-batch") == 2
    assert counting.sent.count("/v1/queue/complete-batch") == 2
    assert len(set(ids)) == 150 and sorted(t.task_id for t in tasks) == sorted(ids)
    assert done == [None] * 150
