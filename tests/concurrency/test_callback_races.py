"""Callbacks under real concurrency on dynalite: the stream handler's first attempts and the
retry job run in separate threads against one Control table, behind slow (but 2xx) receivers,
with claims short enough to lapse while the first attempts wait their turn. Each callback must
succeed at most once; as every POST here succeeds, exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping

import pytest

from taskq.callbacks import Attempt
from taskq.clock import SystemClock
from taskq.delivery import CallbackDispatcher, RetryPolicy
from taskq.store import Delivery, DynamoStore
from tests.servers import client_for, tables_on

pytestmark = pytest.mark.slow

CLAIM_SECONDS = 1.0  # 60 s in AWS; short here, so first attempts made one after another outlast it
POST_SECONDS = 0.25
TASKS = 10


class SlowReceiver:
    """Answers 200 after POST_SECONDS; counts the POSTs of each task, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.posts: Counter[str] = Counter()

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt:
        time.sleep(POST_SECONDS)
        with self._lock:
            self.posts[headers["X-Task-Id"]] += 1
        return Attempt(True, 200)


def test_each_callback_succeeds_once_while_the_retry_job_runs_beside(dynalite_endpoint: str) -> None:
    store, clock, receiver = (
        DynamoStore(client_for(dynalite_endpoint), tables_on(dynalite_endpoint)),
        SystemClock(),
        SlowReceiver(),
    )
    stream_side = CallbackDispatcher(store, clock, receiver, RetryPolicy(), workers=1, claim_seconds=CLAIM_SECONDS)
    retry_job = CallbackDispatcher(store, clock, receiver, RetryPolicy(), workers=4, claim_seconds=CLAIM_SECONDS)
    deliveries = []
    for n in range(TASKS):
        task_id, lease_id = f"TASK-{n}", f"LEASE-{n}"
        store.put_result(task_id, lease_id, {"status_code": 200}, clock.now_ms())
        deliveries.append(Delivery(task_id, "q", 1, "https://h.example/cb", "succeeded", lease_id))
    started = [claimed for d in deliveries if (claimed := stream_side.start(d)) is not None]
    assert len(started) == TASKS
    stop = threading.Event()

    def run_retry_job() -> None:
        while not stop.is_set():
            retry_job.retry_due()
            stop.wait(0.05)

    beside = threading.Thread(target=run_retry_job)
    beside.start()
    try:
        stream_side.attempt_all(started)  # one after another: the later ones start after their claim lapsed
        time.sleep(CLAIM_SECONDS + POST_SECONDS)  # the retry job takes up what the stream side left
    finally:
        stop.set()
        beside.join()

    assert receiver.posts == Counter({d.task_id: 1 for d in deliveries})
    assert {store.delivery_state(d.task_id)["state"] for d in deliveries} == {"delivered"}
