"""Regressions of issue 10, defects 1 and 2: a lease and its sequential lock never come apart,
and a sweeper never ends a lease that a heartbeat extended after the sweeper read it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from apigw import Caller
from botocore_hooks import cancel_once
from steps import cancel, complete, get, lease_call, put, register, take, take_one, taken_ids

from taskq.clock import ManualClock
from taskq.models import Principal, QueueLevel, Role
from taskq.requests import TakeRequest
from taskq.service import QueueService
from taskq.store import DynamoStore
from taskq.store.keys import lock_key
from taskq.sweeper import Sweeper

QUEUE = "seq-lease"
FULL = f"{QUEUE}:0"
OTHER_WORKER = Principal("ak-worker-0002", Role.WORKER)


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, QUEUE)


@pytest.fixture
def two_tasks(producer: Caller, clock: ManualClock) -> tuple[str, str]:
    first = put(producer, QUEUE)
    clock.advance(ms=1)
    return first, put(producer, QUEUE)


def live_running(worker: Caller, task_ids: tuple[str, ...], now: int) -> list[str]:
    tasks = [get(worker, t).body for t in task_ids]
    return [t["task_id"] for t in tasks if t["status"] == "running" and t["lease_expire_time"] > now]


def lock_item(dynamodb: Any, store: DynamoStore) -> dict | None:
    control = store._tables.control
    return dynamodb.get_item(TableName=control, Key=lock_key(QueueLevel(QUEUE, 0)), ConsistentRead=True).get("Item")


def test_a_heartbeat_landing_after_another_take_reacquired_the_lapsed_lock_is_a_409(
    worker: Caller,
    service: QueueService,
    store: DynamoStore,
    clock: ManualClock,
    two_tasks: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given worker A's sequential lease ending at E, and A's heartbeat computed at E - 1 ms
    first, second = two_tasks
    lease = take_one(worker, QUEUE, strategy="sequential", process_timeout=10)
    end = lease["lease_expire_time"]
    clock.advance(ms=end - clock.now_ms() - 1)

    # When, between A's read and A's write, the lease lapses and B's sequential take gets the lock
    extend = store.extend_lease
    taken_by_b: list[dict] = []

    def b_takes_first(*args: Any, **kwargs: Any) -> bool:
        if not taken_by_b:
            clock.advance(ms=1)
            request = TakeRequest(queues=[FULL], size=1, strategy="sequential", process_timeout=10)
            taken_by_b.extend(service.take(OTHER_WORKER, request).get(FULL, []))
        return extend(*args, **kwargs)

    monkeypatch.setattr(store, "extend_lease", b_takes_first)
    answer = lease_call("heartbeat", worker, first, lease["lease_id"], {})

    # Then A's heartbeat fails (its lease has ended), and only B's task runs under a live lease
    assert [t["task_id"] for t in taken_by_b] == [second]
    assert answer.status == 409, answer
    assert live_running(worker, two_tasks, clock.now_ms()) == [second]


def finish_by(action: str, worker: Caller, task: dict, clock: ManualClock, store: DynamoStore) -> None:
    if action == "complete":
        assert complete(worker, task["task_id"], {"status_code": 200}, task["lease_id"]).status == 200
    elif action == "cancel":
        assert cancel(Caller("ak-producer-0001", "producer"), task["task_id"]).status == 202
    elif action == "retry":
        answer = lease_call("retry", worker, task["task_id"], task["lease_id"], {"delay_seconds": 60})
        assert answer.status == 200, answer
    else:
        clock.advance(11)
        assert Sweeper(store, clock).sweep()["requeue"] == 1


def is_task_and_lock(body: bytes) -> bool:
    items = json.loads(body)["TransactItems"]
    return len(items) == 2 and any("LOCK#" in json.dumps(item) for item in items)


@pytest.mark.parametrize("codes", [["TransactionConflict", "None"], ["None", "ThrottlingError"]])
@pytest.mark.parametrize("action", ["complete", "cancel", "retry", "sweep"])
def test_a_contended_transaction_still_releases_the_lock(
    worker: Caller,
    dynamodb: Any,
    store: DynamoStore,
    clock: ManualClock,
    two_tasks: tuple[str, str],
    action: str,
    codes: list[str],
) -> None:
    # Given a running sequential task, whose next task+lock transaction meets a concurrent one
    first, second = two_tasks
    task = take_one(worker, QUEUE, strategy="sequential", process_timeout=10, process_max_retries=1)
    cancelled = cancel_once(dynamodb, "TransactWriteItems", codes, when=is_task_and_lock)

    # When the worker, the owner or the sweeper moves the task on
    finish_by(action, worker, task, clock, store)

    # Then the lock went with it: the queue's next task (the requeued one after a sweep) is
    # takeable at once
    assert cancelled, "the fault never fired"
    assert lock_item(dynamodb, store) is None
    expected = first if action == "sweep" else second
    assert taken_ids(take(worker, [FULL], 1, strategy="sequential")) == {FULL: [expected]}


@pytest.mark.parametrize("retries, action", [(1, "requeue"), (0, "timeout")])
def test_a_sweeper_never_ends_a_lease_extended_after_it_read_the_task(
    worker: Caller,
    service: QueueService,
    store: DynamoStore,
    clock: ManualClock,
    two_tasks: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    retries: int,
    action: str,
) -> None:
    # Given a lease ending at E, and a sweeper (its clock at E) that has read the task as ended
    first, _ = two_tasks
    lease = take_one(worker, QUEUE, process_timeout=10, process_max_retries=retries)
    end = lease["lease_expire_time"]
    clock.advance(ms=end - clock.now_ms() - 1)  # the worker's clock: 1 ms before E
    heartbeats: list[int] = []

    def heartbeat_first(name: str) -> Any:
        write = getattr(store, name)

        def interleaved(*args: Any, **kwargs: Any) -> Any:
            if not heartbeats:  # between the sweeper's read and its write, the worker heartbeats
                heartbeats.append(lease_call("heartbeat", worker, first, lease["lease_id"], {}).status)
            return write(*args, **kwargs)

        return interleaved

    for name in ("requeue", "finish"):
        monkeypatch.setattr(store, name, heartbeat_first(name))

    # When the sweeper writes
    outcome = Sweeper(store, clock)._sweep_one(first, end)

    # Then the heartbeat's 200 holds: the task stays with its worker and nobody else can take it
    assert heartbeats == [200]
    assert outcome.value == "not_due", action
    task = get(worker, first).body
    assert (task["status"], task["lease_id"]) == ("running", lease["lease_id"])
    assert task["lease_expire_time"] == end - 1 + 10_000
    assert taken_ids(take(worker, [FULL], 2)) == {FULL: [two_tasks[1]]}
