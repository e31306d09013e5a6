"""Regressions of issue 10 on the take path: an empty time window while a clear marker stands
(defect 3), claims whose answer was lost (defect 4), a clear racing a take (defect 8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from apigw import Caller, call
from steps import put, register, take

from taskq.clock import ManualClock
from taskq.models import QueueLevel, Status, Task
from taskq.store import DynamoStore
from taskq.store.keys import READY_INDEX
from taskq_local.processes import free_port, running
from tests.servers import client_for, dynalite_command, tables_on

QUEUE = "regress"
FULL = f"{QUEUE}:0"


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, QUEUE)


def clear(admin: Caller) -> None:
    answer = call("POST", f"/v1/console/{FULL}/clear", None, admin)
    assert answer.status == 200, answer


class ReadyQueries:
    """Counts the Query requests on the ready index while attached to a client."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-call.dynamodb.Query", self)

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        self.count += json.loads(params["body"]).get("IndexName") == READY_INDEX


# --- defect 3: lower > upper ------------------------------------------------------------------


def test_a_take_whose_min_age_reaches_before_a_standing_clear_is_empty_without_a_query(
    admin: Caller, producer: Caller, worker: Caller, dynamodb: Any, clock: ManualClock
) -> None:
    # Given a clear at T (its marker stands) and a task put 1 s after it
    put(producer, QUEUE)
    clock.advance(10)
    clear(admin)
    clock.advance(1)
    put(producer, QUEUE)
    clock.advance(1)

    # When a take asks for tasks at least 5 s old: put before T - 3 s, and after T
    queries = ReadyQueries(dynamodb)
    answer = take(worker, [FULL], 5, min_age_seconds=5)

    # Then nothing qualifies, and the store knew it without an (invalid) BETWEEN query
    assert answer == {}
    assert queries.count == 0
    # while a take without min_age still reads the index and gets the later task
    assert [len(tasks) for tasks in take(worker, [FULL], 5).values()] == [1]
    assert queries.count == 1


@pytest.fixture(scope="module")
def dynalite() -> Iterator[str]:
    port = free_port()
    with running(dynalite_command(port), port) as endpoint:
        yield endpoint


def waiting_task(task_id: str, start_time: int) -> Task:
    return Task(
        task_id=task_id,
        ak="ak-producer-0001",
        queue=QUEUE,
        level=0,
        endpoint="/v1/chat/completions",
        data={},
        status=Status.WAITING,
        start_time=start_time,
        expire_time=start_time + 3_600_000,
    )


def test_find_ready_with_an_empty_window_on_dynalite(dynalite: str) -> None:
    # Given a waiting task put at 1000, on a server that validates key conditions like DynamoDB
    store = DynamoStore(client_for(dynalite), tables_on(dynalite))
    store.put_task(waiting_task("TASK-1000-a", 1000), None, 1000)
    queue = QueueLevel(QUEUE, 0)

    # When the window is empty (put after a clear at 2000, before 1500), then no task and no error
    assert store.find_ready(queue, 5000, 5, put_before=1500, put_after=2000) == []
    # and a window that holds the task still finds it
    [found] = store.find_ready(queue, 5000, 5, put_before=1500, put_after=500)
    assert found.task_id == "TASK-1000-a"
