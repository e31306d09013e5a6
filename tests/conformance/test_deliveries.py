"""Callback delivery records and dead letters (store/deliveries.py), on every backend: one
record per task, each attempt under a claim, settled only by the claim's holder."""

from __future__ import annotations

import pytest

from taskq.clock import ManualClock
from taskq.store import Delivery, DynamoStore, Failure

TASK_ID = "TASK-1750000000000-00000000000000aa"
DELIVERY = Delivery(TASK_ID, "conformance", 0, "https://example.com/hook", "succeeded", "LEASE-1")


def started(store: DynamoStore, clock: ManualClock, claim_until: int) -> None:
    assert store.start_delivery(DELIVERY, clock.now_ms(), "CLAIM-first", claim_until)


def test_a_delivery_starts_once(store: DynamoStore, clock: ManualClock) -> None:
    started(store, clock, clock.now_ms() + 60_000)

    assert store.start_delivery(DELIVERY, clock.now_ms(), "CLAIM-replay", clock.now_ms() + 60_000) is False
    state = store.delivery_state(TASK_ID)
    assert (state["state"], state["claim_id"], int(state["attempts"])) == ("pending", "CLAIM-first", 0)
    assert store.delivery_state("TASK-none") is None


def test_a_delivery_is_due_and_claimable_only_once_its_claim_ends(store: DynamoStore, clock: ManualClock) -> None:
    started(store, clock, clock.now_ms() + 60_000)
    assert list(store.due_delivery_ids(clock.now_ms())) == []
    assert store.claim_delivery(TASK_ID, clock.now_ms(), "CLAIM-second", clock.now_ms() + 60_000) is None

    clock.advance(seconds=60)

    assert list(store.due_delivery_ids(clock.now_ms())) == [TASK_ID]
    assert store.claim_delivery(TASK_ID, clock.now_ms(), "CLAIM-second", clock.now_ms() + 60_000) == DELIVERY
    assert list(store.due_delivery_ids(clock.now_ms())) == []


def test_only_the_claim_holder_settles_an_attempt(store: DynamoStore, clock: ManualClock) -> None:
    started(store, clock, clock.now_ms() + 60_000)
    failure = Failure(attempts=1, http_status=503, error="HTTP 503")

    assert store.record_retry(TASK_ID, "CLAIM-other", failure, clock.now_ms()) is False
    assert store.record_retry(TASK_ID, "CLAIM-first", failure, clock.now_ms() + 1_000)
    # the same settle sent again (botocore, after losing its answer) applies again, unchanged
    assert store.record_retry(TASK_ID, "CLAIM-first", failure, clock.now_ms() + 1_000)

    clock.advance(ms=1_000)
    again = store.claim_delivery(TASK_ID, clock.now_ms(), "CLAIM-second", clock.now_ms() + 60_000)
    assert again is not None and again.attempts == 1
    assert store.record_delivered(TASK_ID, "CLAIM-first", 2, 200, clock.now_ms()) is False  # taken over
    assert store.record_delivered(TASK_ID, "CLAIM-second", 2, 200, clock.now_ms())

    state = store.delivery_state(TASK_ID)
    assert (state["state"], int(state["attempts"]), int(state["last_status"])) == ("delivered", 2, 200)
    clock.advance(seconds=3600)
    assert list(store.due_delivery_ids(clock.now_ms())) == []


@pytest.mark.needs_transactions
def test_a_dead_delivery_files_one_dead_letter(store: DynamoStore, clock: ManualClock) -> None:
    started(store, clock, clock.now_ms() + 60_000)
    failure = Failure(attempts=5, http_status=None, error="connection refused")

    assert store.record_dead(DELIVERY, "CLAIM-other", failure, clock.now_ms()) is False
    assert store.dead_letters(10) == []
    assert store.record_dead(DELIVERY, "CLAIM-first", failure, clock.now_ms())

    assert store.delivery_state(TASK_ID)["state"] == "dead"
    assert store.dead_letters(10) == [
        {
            "task_id": TASK_ID,
            "queue": "conformance",
            "level": 0,
            "callback_url": DELIVERY.url,
            "task_status": "succeeded",
            "last_status": None,
            "last_error": "connection refused",
            "attempts": 5,
            "failed_time": clock.now_ms(),
        }
    ]
