"""End to end through `taskq serve`: callbacks to a real HTTP receiver on 127.0.0.1, counters and
clear (spec §3.10, §4.1, §5). The server runs the real dispatcher on moto's stream."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from callback_support import Client, Receiver, running_receiver, wait_for
from local_server_process import ServerProcess, start_server


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # A short backoff (0.3 s, doubling) and 3 attempts, so retries and dead letters take a second.
    log = tmp_path_factory.mktemp("callbacks") / "server.log"
    process = start_server(log, TASKQ_CALLBACK_BACKOFF="0.3", TASKQ_CALLBACK_ATTEMPTS="3")
    yield process
    process.stop()


def test_each_completed_task_is_delivered_once_within_two_seconds(server, receiver: Receiver) -> None:
    client = Client(server)
    ids = [client.put(callback_url=receiver.url("ok")) for _ in range(5)]
    tasks = client.take(5)
    results = {t["task_id"]: {"status_code": 200, "body": {"n": i, "text": "é"}} for i, t in enumerate(tasks)}
    completed_at = {}
    for task in tasks:
        client.complete(task, results[task["task_id"]])
        completed_at[task["task_id"]] = time.monotonic()

    wait_for(lambda: all(receiver.for_task(t) for t in ids), 5)
    time.sleep(1)  # room for a duplicate to show up

    for task_id in ids:
        [got] = receiver.for_task(task_id)
        assert (got["task_status"], got["body"]) == ("succeeded", results[task_id])
        assert got["at"] - completed_at[task_id] < 2


def test_a_receiver_that_fails_first_gets_the_result_once_later(server, receiver: Receiver) -> None:
    receiver.scripts["flaky"] = [503, 503]
    client = Client(server)
    task_id = client.put(callback_url=receiver.url("flaky"))
    [task] = client.take(1)
    client.complete(task, {"status_code": 500, "message": "model overloaded"})

    wait_for(lambda: any(r["answered"] == 200 for r in receiver.for_task(task_id)), 5)
    time.sleep(1)

    assert [r["answered"] for r in receiver.for_task(task_id)] == [503, 503, 200]
    assert {r["task_status"] for r in receiver.for_task(task_id)} == {"failed"}


def test_a_receiver_that_never_answers_well_ends_in_the_dead_letters(server, receiver: Receiver) -> None:
    receiver.scripts["down"] = [500] * 10
    client = Client(server)
    task_id = client.put(callback_url=receiver.url("down"))
    [task] = client.take(1)
    client.complete(task, {"status_code": 200})

    def dead_letter():
        return [d for d in client.call("GET", "/v1/console/dead-letters")[1] if d["task_id"] == task_id]

    [letter] = wait_for(dead_letter, 5)
    assert (letter["attempts"], letter["last_status"], letter["callback_url"]) == (3, 500, receiver.url("down"))
    assert len(receiver.for_task(task_id)) == 3


def test_stats_match_the_operations_performed(server) -> None:
    client = Client(server)
    ids = [client.put() for _ in range(5)]
    first, second = client.take(2)
    client.complete(first, {"status_code": 200})
    client.complete(second, {"status_code": 503})
    waiting = [i for i in ids if i not in (first["task_id"], second["task_id"])]
    assert client.call("POST", f"/v1/queue/{waiting[0]}/cancel")[0] == 202
    expected = {
        "queue": client.queue,
        "level": 0,
        "waiting": 2,
        "running": 0,
        "succeeded": 1,
        "failed": 1,
        "timeout": 0,
        "cancelled": 1,
        "total_put_cnt": 5,
        "total_taken_cnt": 2,
        "total_completed_cnt": 2,
    }

    wait_for(lambda: client.stats() == expected, 3)
    listed = client.call("GET", "/v1/console/queue/stats")[1]
    assert expected in listed


def test_clear_cancels_the_waiting_tasks(server) -> None:
    client = Client(server)
    ids = [client.put() for _ in range(3)]
    time.sleep(0.01)

    status, answer = client.call("POST", f"/v1/console/{client.queue}:0/clear")

    assert (status, answer) == (200, f"{client.queue}:0")
    assert client.take(10) == []
    assert {client.call("GET", f"/v1/queue/{i}")[1]["status"] for i in ids} == {"cancelled"}
    wait_for(lambda: client.stats()["cancelled"] == 3 and client.stats()["waiting"] == 0, 3)
    later = client.put()
    assert [t["task_id"] for t in client.take(10)] == [later]
