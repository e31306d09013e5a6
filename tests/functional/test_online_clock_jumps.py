"""Online waits when the clock jumps (the brief: "a clock can jump"). A wait measures its poll
intervals on the wall clock; a jump forward must act on what is now due at the next poll, and a
jump backward must not hold back the reads a wait relies on until the clock has caught up."""

from __future__ import annotations

import pytest
from apigw import Caller
from online import ScriptedSleep, parse_sse, worker_events
from steps import get, register
from test_online_put import Worker, blocking_put
from test_online_stream import StreamWorker, streaming_put

from taskq.clock import ManualClock
from taskq.service import QueueService


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> str:
    register(admin, "test-queue")
    return "test-queue"


def jump(clock: ManualClock, seconds: float):
    return lambda: clock.advance(seconds)


def test_a_stream_still_ends_soon_after_the_complete_when_the_clock_jumped_back(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    hand = StreamWorker(worker)
    steps = [hand.take, lambda: hand.send({"data": "before"}), jump(clock, -600), lambda: hand.complete({})]
    sleep = ScriptedSleep(clock, steps)

    frames = parse_sse(streaming_put(service, sleep, producer, timeout=600).text)

    assert worker_events(frames) == [(1, "message", "before")]
    after_complete_ms = sum(sleep.slept_ms[len(steps) :])
    # The stream reads the task about once a second: 10 minutes of catching up would be a defect.
    assert after_complete_ms <= 1_500, sleep.slept_ms


def test_a_blocking_put_whose_deadline_the_clock_jumped_past_answers_408_at_the_next_poll(
    service: QueueService, clock: ManualClock, producer: Caller
) -> None:
    sleep = ScriptedSleep(clock, [jump(clock, 120)])

    answer = blocking_put(service, sleep, producer, timeout=60)

    assert answer.status_code == 408
    assert len(sleep.slept_ms) == 1  # no poll after the one that found the deadline passed
    assert get(producer, answer.headers["X-Task-Id"]).body["status"] == "cancelled"


def test_a_blocking_put_is_answered_after_the_clock_jumped_back(
    service: QueueService, clock: ManualClock, producer: Caller, worker: Caller
) -> None:
    hand = Worker(worker)
    steps = [hand.take, jump(clock, -3_600), lambda: hand.complete({"body": {"ok": True}})]
    sleep = ScriptedSleep(clock, steps)

    answer = blocking_put(service, sleep, producer, timeout=60)

    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    assert len(sleep.slept_ms) <= len(steps) + 1
