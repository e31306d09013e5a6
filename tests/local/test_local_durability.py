"""Spec §5 and issue 10 (what to build, 5): what the local server acknowledged survives `kill -9`
and a restart on the same TASKQ_DATA_DIR — registrations, keys, tasks, results, idempotency
keys, counters and callback deliveries; `--ephemeral` keeps nothing."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from callback_support import ENDPOINT, Client, Receiver, running_receiver, wait_for
from local_server_process import ServerProcess, http, start_server

from taskq.delivery import CLAIM_SECONDS


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


class Restartable:
    """Server processes one after another on one data folder."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.tmp_path, self.env, self.started = tmp_path, env, 0
        self.data = tmp_path / "data"
        self.server = self.start()

    def start(self) -> ServerProcess:
        self.started += 1
        log = self.tmp_path / f"server-{self.started}.log"
        self.server = start_server(log, TASKQ_DATA_DIR=str(self.data), **self.env)
        return self.server

    def kill_and_restart(self) -> ServerProcess:
        self.server.stop(signal.SIGKILL)
        return self.start()


@pytest.fixture
def servers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Restartable]:
    restartable = Restartable(tmp_path, **getattr(request, "param", {}))
    yield restartable
    restartable.server.stop()


def get(server: ServerProcess, path: str, key: str | None = None) -> tuple[int, Any]:
    status, answer, _ = http("GET", f"{server.base_url}{path}", key=key or server.admin_key)
    return status, answer


def put_as(server: ServerProcess, key: str, queue: str, headers: dict[str, str] | None = None) -> str:
    body = {"queue": queue, "endpoint": ENDPOINT, "data": {"n": 1}}
    status, answer, _ = http("POST", f"{server.base_url}/v1/queue/put", body, key, headers)
    assert status == 200, answer
    return answer["data"]


# Compacting after every consumed batch (1 byte) puts the snapshot path under the same test.
@pytest.mark.parametrize("servers", [{}, {"TASKQ_COMPACT_BYTES": "1"}], indirect=True, ids=["journal", "snapshot"])
def test_everything_acknowledged_survives_kill_9(servers: Restartable, receiver: Receiver) -> None:
    server = servers.server
    client = Client(server)  # registers its queue
    status, producer, _ = http(
        "POST", f"{server.base_url}/v1/keys", {"name": "p", "role": "producer", "queues": ["*"]}, server.admin_key
    )
    assert status == 201, producer
    keyed = put_as(server, producer["apikey"], client.queue, {"Idempotency-Key": "k-1"})
    delivered_early = client.put(callback_url=receiver.url("early"))
    delivered_late = client.put(callback_url=receiver.url("late"))
    running = [client.put() for _ in range(3)]
    tasks = {t["task_id"]: t for t in client.take(10)}
    client.complete(tasks[delivered_early], {"status_code": 200, "body": {"text": "é"}})
    client.complete(tasks[keyed], {"status_code": 503})
    wait_for(lambda: receiver.for_task(delivered_early), 5)
    # The kill may come before or after this callback is delivered: once either way.
    client.complete(tasks[delivered_late], {"status_code": 200})
    ids = [keyed, delivered_early, delivered_late, *running]
    before = {task_id: get(server, f"/v1/queue/{task_id}") for task_id in ids}

    compacting = "TASKQ_COMPACT_BYTES" in servers.env
    if compacting:
        # A snapshot is written when the dispatcher has consumed every stream record; on a busy
        # machine that moment may come only after the last write, so the kill waits for it.
        wait_for(lambda: keyed in (servers.data / "snapshot.jsonl").read_text(), 10)
    server.stop(signal.SIGKILL)
    assert (keyed in (servers.data / "snapshot.jsonl").read_text()) == compacting
    server = servers.start()
    client.base = server.base_url

    assert {task_id: get(server, f"/v1/queue/{task_id}") for task_id in ids} == before
    assert put_as(server, producer["apikey"], client.queue, {"Idempotency-Key": "k-1"}) == keyed
    # At once when the kill came before the dispatcher got to it; if it came while a delivery
    # was claimed, once the claim lapses (CLAIM_SECONDS, 60 s) and the scheduled job retries.
    wait_for(lambda: receiver.for_task(delivered_late), CLAIM_SECONDS + 10)
    expected = {"waiting": 0, "running": 3, "succeeded": 2, "failed": 1, "total_put_cnt": 6}
    wait_for(lambda: {k: client.stats()[k] for k in expected} == expected, 5)
    time.sleep(1.5)  # room for a duplicate delivery or count to show up
    assert {k: client.stats()[k] for k in expected} == expected
    assert (len(receiver.for_task(delivered_early)), len(receiver.for_task(delivered_late))) == (1, 1)
    assert [t["task_id"] for t in client.take(10)] == []  # nothing waits: all six were taken


def test_a_torn_last_journal_line_is_ignored(servers: Restartable) -> None:
    client = Client(servers.server)
    task_id = client.put()
    servers.server.stop(signal.SIGKILL)
    [journal] = sorted(servers.data.glob("journal.*.jsonl"))
    with journal.open("ab") as handle:  # a write the kill cut short: never acknowledged
        handle.write(b'{"op":"PutItem","url":"https://dynamodb.us-east-1.amaz')

    server = servers.start()
    client.base = server.base_url

    assert get(server, f"/v1/queue/{task_id}")[1]["status"] == "waiting"
    later = client.put()  # appended on a line of its own
    server = servers.kill_and_restart()
    assert [get(server, f"/v1/queue/{i}")[1]["status"] for i in (task_id, later)] == ["waiting", "waiting"]


def test_ephemeral_keeps_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(tmp_path / "first.log", args=("--ephemeral",), TASKQ_DATA_DIR=str(data))
    task_id = Client(server).put()
    server.stop()
    server = start_server(tmp_path / "second.log", args=("--ephemeral",), TASKQ_DATA_DIR=str(data))
    try:
        assert get(server, f"/v1/queue/{task_id}")[0] == 404
    finally:
        server.stop()
    assert not data.exists()


def test_the_default_data_folder_is_taskq_in_the_working_directory(tmp_path: Path) -> None:
    server = start_server(tmp_path / "server.log", cwd=tmp_path)
    try:
        Client(server).put()
    finally:
        server.stop()
    assert (tmp_path / ".taskq" / "snapshot.jsonl").exists()
    assert sorted(tmp_path.joinpath(".taskq").glob("journal.*.jsonl"))
