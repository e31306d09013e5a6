"""Claiming a task (store/tasks.py claim, held_locks), on every backend: a claim is granted only
to a waiting, unexpired, visible task, and a sequential claim takes the queue's lock with it."""

from __future__ import annotations

import pytest

from taskq.clock import ManualClock
from taskq.models import Status
from taskq.store import ClaimOutcome, DynamoStore
from tests.conformance.factory import Q, lease, put_waiting


def test_a_claim_grants_the_lease_and_takes_the_task_out_of_the_ready_index(
    store: DynamoStore, clock: ManualClock
) -> None:
    [task] = put_waiting(store, clock)
    granted = lease(clock, seconds=60)

    outcome, claimed = store.claim(task.task_id, clock.now_ms(), granted)

    assert outcome is ClaimOutcome.CLAIMED
    assert (claimed.status, claimed.lease_id, claimed.lease_expire_time) == (
        Status.RUNNING,
        granted.lease_id,
        granted.expire_time,
    )
    assert (claimed.attempts, claimed.running_time, claimed.process_timeout) == (1, clock.now_ms(), 60)
    assert store.get_task(task.task_id) == claimed
    assert store.find_ready(Q, clock.now_ms(), 10) == []


def test_a_claimed_task_cannot_be_claimed_again(store: DynamoStore, clock: ManualClock) -> None:
    [task] = put_waiting(store, clock)
    first = lease(clock)
    assert store.claim(task.task_id, clock.now_ms(), first)[0] is ClaimOutcome.CLAIMED

    assert store.claim(task.task_id, clock.now_ms(), lease(clock)) == (ClaimOutcome.TASK_GONE, None)
    assert store.get_task(task.task_id).lease_id == first.lease_id


def test_an_expired_task_cannot_be_claimed(store: DynamoStore, clock: ManualClock) -> None:
    [task] = put_waiting(store, clock, expire_time=clock.now_ms() + 1_000)
    clock.advance(ms=1_000)

    assert store.claim(task.task_id, clock.now_ms(), lease(clock)) == (ClaimOutcome.TASK_GONE, None)
    assert store.get_task(task.task_id).status is Status.WAITING


def test_a_task_cannot_be_claimed_before_it_is_visible(store: DynamoStore, clock: ManualClock) -> None:
    [task] = put_waiting(store, clock, visible_time=clock.now_ms() + 1_000)

    assert store.claim(task.task_id, clock.now_ms(), lease(clock)) == (ClaimOutcome.TASK_GONE, None)
    clock.advance(ms=1_000)
    assert store.claim(task.task_id, clock.now_ms(), lease(clock))[0] is ClaimOutcome.CLAIMED


@pytest.mark.needs_transactions
def test_a_sequential_claim_holds_the_queue_lock_until_its_lease_ends(store: DynamoStore, clock: ManualClock) -> None:
    first, second = put_waiting(store, clock, 2)
    held = lease(clock, seconds=60)

    outcome, claimed = store.claim(first.task_id, clock.now_ms(), held, lock=Q)

    assert outcome is ClaimOutcome.CLAIMED and claimed.holds_lock
    assert store.held_locks([Q], clock.now_ms()) == {Q}
    assert store.queue_gates([Q], clock.now_ms(), locks=[Q]).locked == {Q}
    assert store.claim(second.task_id, clock.now_ms(), lease(clock), lock=Q) == (ClaimOutcome.QUEUE_LOCKED, None)
    assert store.get_task(second.task_id).status is Status.WAITING

    clock.advance(seconds=60)  # the lock lapses with the lease that took it

    assert store.held_locks([Q], clock.now_ms()) == set()
    assert store.claim(second.task_id, clock.now_ms(), lease(clock), lock=Q)[0] is ClaimOutcome.CLAIMED


@pytest.mark.needs_transactions
def test_a_sequential_claim_of_a_gone_task_takes_no_lock(store: DynamoStore, clock: ManualClock) -> None:
    [task] = put_waiting(store, clock)
    assert store.claim(task.task_id, clock.now_ms(), lease(clock))[0] is ClaimOutcome.CLAIMED

    assert store.claim(task.task_id, clock.now_ms(), lease(clock), lock=Q) == (ClaimOutcome.TASK_GONE, None)
    assert store.held_locks([Q], clock.now_ms()) == set()


@pytest.mark.needs_transactions
def test_a_sequential_claim_answers_the_task_as_read_with_its_changes_and_it_is_what_is_stored(
    store: DynamoStore, clock: ManualClock
) -> None:
    [first] = put_waiting(store, clock)
    gates = store.queue_gates([Q], clock.now_ms(), locks=[Q], heads=[first.task_id, "TASK-0-missing"])
    assert (gates.cleared_before, gates.locked, list(gates.heads)) == ({}, frozenset(), [first.task_id])

    outcome, claimed = store.claim(first.task_id, clock.now_ms(), lease(clock), Q, observed=gates.heads[first.task_id])

    assert outcome is ClaimOutcome.CLAIMED
    assert claimed == store.get_task(first.task_id)
    assert (claimed.status, claimed.attempts, claimed.holds_lock) == (Status.RUNNING, 1, True)
    assert store.queue_gates([], clock.now_ms(), locks=[Q]).locked == {Q}


@pytest.mark.needs_transactions
def test_a_sequential_claim_of_a_task_changed_since_its_read_is_refused_and_takes_no_lock(
    store: DynamoStore, clock: ManualClock
) -> None:
    [task] = put_waiting(store, clock)
    as_read = store.get_task(task.task_id)
    _, rival = store.claim(task.task_id, clock.now_ms(), lease(clock))
    assert store.requeue(rival, visible_time=clock.now_ms())  # waiting and visible again, one attempt spent

    outcome = store.claim(task.task_id, clock.now_ms(), lease(clock), Q, observed=as_read)

    assert outcome == (ClaimOutcome.TASK_GONE, None)
    assert store.held_locks([Q], clock.now_ms()) == set()
    assert (store.get_task(task.task_id).status, store.get_task(task.task_id).attempts) == (Status.WAITING, 1)


def test_the_gates_read_brings_markers_and_whole_tasks_from_both_tables(store: DynamoStore, clock: ManualClock) -> None:
    [task] = put_waiting(store, clock)
    store.mark_cleared(Q, task.start_time - 1)

    gates = store.queue_gates([Q], clock.now_ms(), locks=[Q], heads=[task.task_id])

    assert gates.cleared_before == {Q: task.start_time - 1}
    assert gates.locked == frozenset()
    assert gates.heads == {task.task_id: store.get_task(task.task_id)}
