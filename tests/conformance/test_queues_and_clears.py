"""Queue registrations, round-robin cursors and queue clears (store/queues.py, store/clears.py),
on every backend."""

from __future__ import annotations

import pytest

from taskq.clock import ManualClock
from taskq.errors import Conflict
from taskq.models import QueueLevel, Status
from taskq.store import ClaimOutcome, DynamoStore
from tests.conformance.factory import CHAT, Q, lease, put_waiting


def test_a_queue_registers_once_per_endpoint(store: DynamoStore, clock: ManualClock) -> None:
    store.register_queue("conformance", CHAT, clock.now_ms())
    store.register_queue("conformance", CHAT, clock.now_ms())  # a repeat with the same endpoint

    with pytest.raises(Conflict):
        store.register_queue("conformance", "/v1/embeddings", clock.now_ms())
    assert store.queue_endpoints(["conformance", "unknown", "conformance"]) == {"conformance": CHAT}


@pytest.mark.needs_return_values_on_condition_failure
def test_a_conflicting_registration_names_the_registered_endpoint(store: DynamoStore, clock: ManualClock) -> None:
    store.register_queue("conformance", CHAT, clock.now_ms())

    with pytest.raises(Conflict, match="registered with endpoint '/v1/chat/completions'"):
        store.register_queue("conformance", "/v1/embeddings", clock.now_ms())


def test_the_round_robin_cursor_is_stored_per_queue_list(store: DynamoStore) -> None:
    one, other = [Q, QueueLevel("b", 0)], [QueueLevel("b", 0), Q]
    assert store.get_cursor(one) == 0

    store.set_cursor(one, 3)

    assert (store.get_cursor(one), store.get_cursor(other)) == (3, 0)


def test_a_clear_marker_only_moves_forward_and_retires_only_as_read(store: DynamoStore, clock: ManualClock) -> None:
    other = QueueLevel("conformance", 1)
    store.mark_cleared(Q, 2_000)
    store.mark_cleared(Q, 1_000)  # an older clear answering late never moves the marker back
    store.mark_cleared(other, 500)

    assert store.queue_gates([Q, other, QueueLevel("never", 0)], clock.now_ms()).cleared_before == {
        Q: 2_000,
        other: 500,
    }
    assert sorted(store.pending_clears()) == sorted([(Q, 2_000), (other, 500)])

    store.mark_cleared(Q, 3_000)
    assert store.retire_clear(Q, 2_000) is False  # a later clear replaced the one read
    assert store.retire_clear(Q, 3_000)
    assert store.pending_clears() == [(other, 500)]


def test_a_clear_cancels_the_waiting_tasks_put_before_it_and_nothing_else(
    store: DynamoStore, clock: ManualClock
) -> None:
    covered = put_waiting(store, clock, 3)
    outcome, running = store.claim(covered[0].task_id, clock.now_ms(), lease(clock))
    assert outcome is ClaimOutcome.CLAIMED
    cleared_before = clock.now_ms() - 1
    [young] = put_waiting(store, clock)

    waiting = store.waiting_put_before(Q, cleared_before, limit=10)
    assert waiting == [t.task_id for t in covered[1:]]
    assert all(store.cancel_cleared(task_id, Q, cleared_before, clock.now_ms()) for task_id in waiting)

    assert store.cancel_cleared(running.task_id, Q, cleared_before, clock.now_ms()) is False
    assert store.cancel_cleared(young.task_id, Q, cleared_before, clock.now_ms()) is False
    assert store.waiting_put_before(Q, cleared_before, limit=10) == []
    statuses = [store.get_task(t.task_id).status for t in [*covered, young]]
    assert statuses == [Status.RUNNING, Status.CANCELLED, Status.CANCELLED, Status.WAITING]
