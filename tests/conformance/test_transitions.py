"""Moving a task on (store/transitions.py finish, requeue, extend_lease, due_task_ids,
put_result, get_result), on every backend: each write applies only while the task is as the
caller observed it."""

from __future__ import annotations

import pytest

from taskq.clock import ManualClock
from taskq.models import Status, Task
from taskq.permissions import QueueScope
from taskq.store import ClaimOutcome, DynamoStore
from tests.conformance.factory import Q, lease, put_waiting


def running(store: DynamoStore, clock: ManualClock, seconds: int = 60, *, lock: bool = False) -> Task:
    [task] = put_waiting(store, clock)
    outcome, claimed = store.claim(task.task_id, clock.now_ms(), lease(clock, seconds), lock=Q if lock else None)
    assert outcome is ClaimOutcome.CLAIMED
    return claimed


def test_finish_ends_a_running_task_once(store: DynamoStore, clock: ManualClock) -> None:
    task = running(store, clock)

    assert store.finish(task, Status.SUCCEEDED, clock.now_ms(), result_lease=task.lease_id)

    done = store.get_task(task.task_id)
    assert (done.status, done.completed_time, done.result_lease) == (Status.SUCCEEDED, clock.now_ms(), task.lease_id)
    assert store.finish(task, Status.FAILED, clock.now_ms(), result_lease=None) is False  # observed running: stale
    assert store.get_task(task.task_id).status is Status.SUCCEEDED


def test_finish_under_another_lease_changes_nothing(store: DynamoStore, clock: ManualClock) -> None:
    task = running(store, clock)
    stale = Task(**(task.__dict__ | {"lease_id": "LEASE-stale"}))

    assert store.finish(stale, Status.SUCCEEDED, clock.now_ms(), result_lease=None) is False
    assert store.get_task(task.task_id) == task


def test_finish_cancels_a_waiting_task(store: DynamoStore, clock: ManualClock) -> None:
    [task] = put_waiting(store, clock)

    assert store.finish(task, Status.CANCELLED, clock.now_ms(), result_lease=None)

    assert store.get_task(task.task_id).status is Status.CANCELLED
    assert store.find_ready(Q, clock.now_ms(), 10) == []
    assert store.claim(task.task_id, clock.now_ms(), lease(clock))[0] is ClaimOutcome.TASK_GONE


@pytest.mark.needs_transactions
def test_finish_releases_the_sequential_lock(store: DynamoStore, clock: ManualClock) -> None:
    task = running(store, clock, lock=True)
    assert store.held_locks([Q], clock.now_ms()) == {Q}

    assert store.finish(task, Status.SUCCEEDED, clock.now_ms(), result_lease=task.lease_id)

    assert store.held_locks([Q], clock.now_ms()) == set()
    assert store.get_task(task.task_id).holds_lock is False


def test_requeue_gives_the_task_back_in_its_place(store: DynamoStore, clock: ManualClock) -> None:
    task = running(store, clock)
    [later] = put_waiting(store, clock)
    visible = clock.now_ms() + 5_000

    assert store.requeue(task, visible)

    back = store.get_task(task.task_id)
    assert (back.status, back.start_time, back.visible_time) == (Status.WAITING, task.start_time, visible)
    assert [c.task_id for c in store.find_ready(Q, clock.now_ms(), 10)] == [later.task_id]
    clock.advance(ms=5_000)
    assert [c.task_id for c in store.find_ready(Q, clock.now_ms(), 10)] == [task.task_id, later.task_id]
    assert store.requeue(task, visible) is False  # observed running: the task moved on


@pytest.mark.needs_transactions
def test_requeue_releases_the_sequential_lock(store: DynamoStore, clock: ManualClock) -> None:
    task = running(store, clock, lock=True)

    assert store.requeue(task, clock.now_ms())

    assert store.held_locks([Q], clock.now_ms()) == set()


def test_extend_lease_moves_the_lease_end_while_the_lease_lasts(store: DynamoStore, clock: ManualClock) -> None:
    task = running(store, clock, seconds=60)
    until = task.lease_expire_time + 60_000

    assert store.extend_lease(task, clock.now_ms(), until)
    assert store.get_task(task.task_id).lease_expire_time == until

    stale = Task(**(task.__dict__ | {"lease_id": "LEASE-stale"}))
    assert store.extend_lease(stale, clock.now_ms(), until + 1) is False
    clock.advance(ms=until - clock.now_ms())  # the lease has ended: too late to extend it
    assert store.extend_lease(store.get_task(task.task_id), clock.now_ms(), until + 60_000) is False
    assert store.get_task(task.task_id).lease_expire_time == until


@pytest.mark.needs_transactions
def test_extend_lease_moves_the_sequential_lock_too(store: DynamoStore, clock: ManualClock) -> None:
    task = running(store, clock, seconds=60, lock=True)

    assert store.extend_lease(task, clock.now_ms(), task.lease_expire_time + 60_000)

    clock.advance(seconds=90)  # past the first lease end, before the new one
    assert store.held_locks([Q], clock.now_ms()) == {Q}


def test_due_task_ids_are_ended_leases_and_expired_waiting_tasks(store: DynamoStore, clock: ManualClock) -> None:
    task = running(store, clock, seconds=60)
    [expiring] = put_waiting(store, clock, expire_time=clock.now_ms() + 30_000)
    put_waiting(store, clock)  # expires in an hour: not due
    finished = running(store, clock, seconds=10)
    assert store.finish(finished, Status.SUCCEEDED, clock.now_ms(), result_lease=None)

    assert list(store.due_task_ids(clock.now_ms())) == []
    clock.advance(seconds=30)
    assert list(store.due_task_ids(clock.now_ms())) == [expiring.task_id]
    clock.advance(seconds=30)
    assert sorted(store.due_task_ids(clock.now_ms(), page_size=1)) == sorted([expiring.task_id, task.task_id])


def test_the_first_result_per_lease_wins(store: DynamoStore, clock: ManualClock) -> None:
    task = running(store, clock)

    store.put_result(task.task_id, task.lease_id, {"status_code": 200}, clock.now_ms())
    store.put_result(task.task_id, task.lease_id, {"status_code": 500}, clock.now_ms())

    assert store.get_result(task.task_id, task.lease_id) == {"status_code": 200}
    assert store.get_result(task.task_id, "LEASE-other") is None


# --- complete_running: a worker's complete in one write (issue 16) ---------------------------

EVERY_QUEUE = QueueScope(everything=True)
RESULT = {"status_code": 200, "body": "done"}


def test_complete_running_sets_status_and_result_in_one_write(store: DynamoStore, clock: ManualClock) -> None:
    task = running(store, clock)
    clock.advance(seconds=120)  # a lapsed lease that nothing redelivered is still the worker's

    done = store.complete_running(task.task_id, task.lease_id, Status.SUCCEEDED, RESULT, clock.now_ms(), EVERY_QUEUE)

    assert done.applied and done.task is not None and done.task.queue_level == Q
    stored = store.get_task(task.task_id)
    assert (stored.status, stored.result_lease, stored.result) == (Status.SUCCEEDED, task.lease_id, RESULT)
    assert store.task_result(task.task_id, task.lease_id) == RESULT
    assert list(store.due_task_ids(clock.now_ms())) == []  # out of the sweep index


@pytest.mark.parametrize(
    "scope",
    [
        QueueScope(names=("other", Q.name)),
        QueueScope(prefixes=("x", Q.name[:4])),
        QueueScope(names=("a",), prefixes=(Q.name,)),
    ],
)
def test_complete_running_applies_within_the_keys_queues(
    store: DynamoStore, clock: ManualClock, scope: QueueScope
) -> None:
    task = running(store, clock)

    assert store.complete_running(task.task_id, task.lease_id, Status.FAILED, RESULT, clock.now_ms(), scope).applied


def test_complete_running_returns_the_task_a_failed_condition_found(store: DynamoStore, clock: ManualClock) -> None:
    task = running(store, clock)
    now = clock.now_ms()

    stale = store.complete_running(task.task_id, "LEASE-stale", Status.SUCCEEDED, RESULT, now, EVERY_QUEUE)
    outside = store.complete_running(task.task_id, task.lease_id, Status.SUCCEEDED, RESULT, now, QueueScope(("x",)))
    absent = store.complete_running("TASK-absent", task.lease_id, Status.SUCCEEDED, RESULT, now, EVERY_QUEUE)

    assert (stale.applied, stale.task) == (False, task)  # ALL_OLD, or a read where not returned
    assert (outside.applied, outside.task) == (False, task)
    assert (absent.applied, absent.task) == (False, None)
    assert store.get_task(task.task_id) == task


def test_complete_running_leaves_a_final_task_and_its_result_alone(store: DynamoStore, clock: ManualClock) -> None:
    task = running(store, clock)
    now = clock.now_ms()
    assert store.complete_running(task.task_id, task.lease_id, Status.SUCCEEDED, RESULT, now, EVERY_QUEUE).applied

    again = store.complete_running(task.task_id, task.lease_id, Status.FAILED, {"status_code": 500}, now, EVERY_QUEUE)

    assert not again.applied and again.task is not None
    assert (again.task.status, again.task.result) == (Status.SUCCEEDED, RESULT)


@pytest.mark.needs_transactions
def test_complete_running_leaves_a_lock_holder_to_the_transaction(store: DynamoStore, clock: ManualClock) -> None:
    task = running(store, clock, lock=True)
    now = clock.now_ms()

    found = store.complete_running(task.task_id, task.lease_id, Status.SUCCEEDED, RESULT, now, EVERY_QUEUE)
    assert not found.applied and found.task is not None and found.task.holds_lock
    assert store.finish(found.task, Status.SUCCEEDED, now, result_lease=task.lease_id, result=RESULT)

    assert store.held_locks([Q], now) == set()
    assert store.task_result(task.task_id, task.lease_id) == RESULT
