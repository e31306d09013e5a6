"""Defect 9 of issue 10: moto rolls a cancelled transaction back by swapping in copies of its
tables, stream shard included; the stream reader must go on seeing new writes afterwards, or
callbacks and counters stop for good. Through a real server process, on its own: a server hit by
the defect is of no use to any other test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from callback_support import Client, Receiver, running_receiver, wait_for
from local_server_process import ServerProcess, start_server


@pytest.fixture
def server(tmp_path) -> Iterator[ServerProcess]:
    process = start_server(tmp_path / "server.log")
    yield process
    process.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


def test_callbacks_and_stats_go_on_after_a_cancelled_transaction(server, receiver: Receiver) -> None:
    client = Client(server)
    first = client.put(headers={"Idempotency-Key": "same"})
    # The stream reader is reading the shard by the time the transaction is cancelled.
    wait_for(lambda: client.stats()["total_put_cnt"] == 1, 5)
    # The repeated key's put is a transaction whose condition fails: moto cancels it.
    assert client.put(headers={"Idempotency-Key": "same"}) == first

    task_id = client.put(callback_url=receiver.url("after"))
    tasks = {t["task_id"]: t for t in client.take(2)}
    client.complete(tasks[task_id], {"status_code": 200})

    wait_for(lambda: receiver.for_task(task_id), 5)
    wait_for(lambda: client.stats()["succeeded"] == 1, 5)
    # The cancelled transaction's task write was rolled back: no stream record counts it.
    assert (client.stats()["total_put_cnt"], client.stats()["total_completed_cnt"]) == (2, 1)
