"""The change signal for waits (taskq/online/changes.py, taskq_local/changes.py): the local
server's writes wake the waits on the task they wrote, across threads, and a wait sleeping
through it (taskq_online/waiting.py) never misses a change that lands between a poll and its
pause. The whole, on a real server with 200 waits: test_local_online_waits.py."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass

import pytest

from taskq.online.schedule import SIGNALLED_MS, PollPlan
from taskq.online.watch import Ending, Progress
from taskq_local.changes import LocalTaskChanges, changed_task_ids
from taskq_online.waiting import wait_for_end

TABLES = frozenset({"tasks", "events"})


def timed_wait(changes: LocalTaskChanges, task_id: str, since: int, timeout_s: float) -> float:
    started = time.monotonic()
    asyncio.run(changes.wait(task_id, since, timeout_s))
    return time.monotonic() - started


def test_a_write_on_another_thread_wakes_the_wait_at_once():
    changes = LocalTaskChanges()
    seen = changes.version("t1")
    threading.Timer(0.1, changes.changed, args=(["t1"],)).start()
    assert 0.09 <= timed_wait(changes, "t1", seen, 5.0) < 1.0
    assert changes.version("t1") != seen


def test_a_change_before_the_wait_begins_ends_it_at_once():
    changes = LocalTaskChanges()
    seen = changes.version("t1")
    changes.changed(["t1"])
    assert timed_wait(changes, "t1", seen, 5.0) < 0.05


def test_another_tasks_change_does_not_wake_it_and_it_ends_at_its_timeout():
    changes = LocalTaskChanges()
    seen = changes.version("t1")
    threading.Timer(0.05, changes.changed, args=(["t2"],)).start()
    assert timed_wait(changes, "t1", seen, 0.3) >= 0.29
    assert changes.version("t1") == seen


def test_every_wait_on_the_task_is_woken_each_on_its_own_loop():
    changes = LocalTaskChanges()
    seen = changes.version("t1")
    durations: list[float] = []
    waits = [threading.Thread(target=lambda: durations.append(timed_wait(changes, "t1", seen, 5.0))) for _ in range(5)]
    for wait in waits:
        wait.start()
    time.sleep(0.2)
    changes.changed(["t1"])
    for wait in waits:
        wait.join(5)
    assert len(durations) == 5 and max(durations) < 1.0


def test_a_forgotten_version_never_comes_back_to_a_recorded_one():
    changes = LocalTaskChanges(kept=2)
    changes.changed(["a"])
    seen = changes.version("a")
    changes.changed(["b", "c"])  # "a" is forgotten: it reads 0 again, which no wait recorded
    assert changes.version("a") == 0 != seen
    changes.changed(["a"])
    assert changes.version("a") not in (0, seen)


@dataclass
class _Task:
    task_id: str


class WriteAfterTheFirstPoll:
    """A blocking wait's watch whose task changes (on the poll's worker thread) just after the
    first poll's reads: only the second poll, made when the wait learns of that change, sees
    the end. With the polling schedule alone it would come a safety interval later."""

    def __init__(self, changes: LocalTaskChanges) -> None:
        self.task = _Task("t1")
        self.changes = changes
        self.polls: list[float] = []

    def next_poll(self, *, signalled: bool = False) -> PollPlan:
        assert signalled
        return PollPlan(SIGNALLED_MS, read_task=True, read_events=False)

    def poll(self, plan: PollPlan) -> Progress:
        self.polls.append(time.monotonic())
        if len(self.polls) == 1:
            self.changes.changed(["t1"])  # the worker's complete, right after the read
            return Progress()
        return Progress(ending=Ending(200, {"done": True}))


def test_a_change_between_a_poll_and_its_pause_is_not_missed():
    changes = LocalTaskChanges()
    watch = WriteAfterTheFirstPoll(changes)

    async def never_gone() -> bool:
        return False

    async def no_sleep(seconds: float) -> None:
        raise AssertionError("a signalled wait sleeps through the signal")

    started = time.monotonic()
    ending = asyncio.run(wait_for_end(watch, no_sleep, never_gone, changes))  # type: ignore[arg-type]
    assert ending == Ending(200, {"done": True})
    assert len(watch.polls) == 2 and time.monotonic() - started < 1.0


def body(**request: object) -> str:
    return json.dumps(request)


def key(task_id: str) -> dict[str, dict[str, str]]:
    return {"task_id": {"S": task_id}}


@pytest.mark.parametrize(
    ("operation", "request_body", "expected"),
    [
        ("PutItem", body(TableName="tasks", Item=key("t1") | {"status": {"S": "WAITING"}}), ["t1"]),
        ("UpdateItem", body(TableName="tasks", Key=key("t2")), ["t2"]),
        ("DeleteItem", body(TableName="events", Key=key("t3") | {"sk": {"S": "B#1"}}), ["t3"]),
        ("PutItem", body(TableName="control", Item={"pk": {"S": "STATS"}, "sk": {"S": "q:0"}}), []),
        ("PutItem", body(TableName="results", Item=key("t1") | {"lease_id": {"S": "l"}}), []),
        ("GetItem", body(TableName="tasks", Key=key("t1")), []),
        (
            "TransactWriteItems",
            body(
                TransactItems=[
                    {"ConditionCheck": {"TableName": "tasks", "Key": key("t9")}},
                    {"Update": {"TableName": "tasks", "Key": key("t4")}},
                    {"Put": {"TableName": "events", "Item": key("t5")}},
                    {"Delete": {"TableName": "control", "Key": {"pk": {"S": "LOCK#q:0"}}}},
                ]
            ),
            ["t4", "t5"],
        ),
        (
            "BatchWriteItem",
            body(
                RequestItems={
                    "events": [{"DeleteRequest": {"Key": key("t6")}}, {"PutRequest": {"Item": key("t7")}}],
                    "control": [{"PutRequest": {"Item": {"pk": {"S": "x"}}}}],
                }
            ),
            ["t6", "t7"],
        ),
    ],
)
def test_the_tasks_a_write_changed(operation, request_body, expected):
    assert list(changed_task_ids(operation, request_body, TABLES)) == expected
