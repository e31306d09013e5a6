"""Slow receivers (spec §4.4), for real on 127.0.0.1: every delivery has an overall deadline and
the deliveries of a stream batch run side by side, so a receiver that drips its answer holds
up no other task's callback, and the batch (its counters included) for one deadline at most."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from apigw import Caller
from receivers import arrivals, local_sender, receiving
from steps import complete, put, register, take
from stream import Dispatcher

from taskq.clearing import QueueClearer
from taskq.clock import ManualClock
from taskq.delivery import CallbackDispatcher, RetryPolicy
from taskq.store import DynamoStore
from taskq_dispatcher import wiring

DRIPPING = 17  # more than a pool of 16 senders (the old design) would start at once
DEADLINE = 2.0  # the sender's overall deadline here (10 s in AWS)


@pytest.fixture
def port(store: DynamoStore, clock: ManualClock, dispatcher: Dispatcher) -> Iterator[int]:
    """A real receiver, and the dispatcher wired to post to it with the real sender."""
    sender = CallbackDispatcher(store, clock, local_sender(DEADLINE), RetryPolicy())
    wiring.use(wiring.Wiring(store, clock, sender, QueueClearer(store, clock)))
    with receiving() as port:
        yield port


def test_dripping_receivers_hold_up_no_other_callback_nor_the_batch(
    admin: Caller,
    producer: Caller,
    worker: Caller,
    dispatcher: Dispatcher,
    store: DynamoStore,
    clock: ManualClock,
    port: int,
) -> None:
    register(admin, "cb")
    # Each dripping answer would take 10 s, a byte every 0.25 s (well within a per-read time-out).
    dripping = [put(producer, "cb", callback_url=f"http://cb.example:{port}/drip") for _ in range(DRIPPING)]
    clock.advance(0.001)  # later than the others: taken, completed and streamed last
    prompt = put(producer, "cb", callback_url=f"http://cb.example:{port}/hook")
    taken = take(worker, ["cb:0"], DRIPPING + 1)["cb:0"]
    assert taken[-1]["task_id"] == prompt
    for task in taken:
        complete(worker, task["task_id"], {"status_code": 200}, task["lease_id"])

    started = time.monotonic()
    answer = dispatcher.run_stream()
    took = time.monotonic() - started

    assert answer == {"batchItemFailures": []}
    [(_, arrived)] = [(path, at) for path, at in arrivals if path == "/hook"]
    # Each dripping answer lasts 10 s and the old design ran 16 POSTs at a time, per-read
    # time-outs only: the prompt POST came after 10 s, the batch after 20 s. Now every POST
    # starts at once and ends by the deadline; the slack is for a loaded machine.
    assert arrived - started < DEADLINE + 3, arrived - started
    assert took < DEADLINE + 5, took
    assert store.delivery_state(prompt)["state"] == "delivered"
    states = [store.delivery_state(task_id) for task_id in dripping]
    assert [(s["state"], s["attempts"]) for s in states] == [("pending", 1)] * DRIPPING
    assert all("timed out" in s["last_error"] for s in states)
