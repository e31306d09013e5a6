"""The poll schedule of a waiting producer (taskq/online/schedule.py): pure, against the
budget of issue 11 (≤ 10 DynamoDB requests per waiting producer-second; events within 100 ms
p50 / 250 ms p99; a blocking answer within 50 ms p50)."""

from __future__ import annotations

import pytest

from taskq.models import ResponseMode, Status
from taskq.online.schedule import SIGNALLED_MS, PollPlan, plan_poll, requests_per_second

BLOCKING, STREAMING = ResponseMode.BLOCKING, ResponseMode.STREAMING


def steady_rate(mode: ResponseMode, status: Status, since_change_ms: int, polls: int = 40) -> float:
    """Requests a second over `polls` polls at a fixed time since the last change."""
    since_task_read = 0
    requests = elapsed = 0
    for _ in range(polls):
        plan = plan_poll(mode, status, since_change_ms, since_task_read)
        elapsed += plan.delay_ms
        requests += plan.read_task + plan.read_events
        since_task_read = 0 if plan.read_task else since_task_read + plan.delay_ms
    return requests * 1000 / elapsed


@pytest.mark.parametrize("mode", [BLOCKING, STREAMING])
@pytest.mark.parametrize("status", [Status.WAITING, Status.RUNNING])
@pytest.mark.parametrize("since_change_ms", [0, 1_999, 2_000, 9_999, 10_000, 59_999, 60_000, 3_600_000])
def test_no_wait_costs_more_than_ten_requests_a_second(mode, status, since_change_ms):
    assert steady_rate(mode, status, since_change_ms) <= 10.0


def test_a_blocking_wait_reads_only_the_task():
    plan = plan_poll(BLOCKING, Status.RUNNING, 0, 0)
    assert (plan.read_task, plan.read_events) == (True, False)


def test_a_waiting_stream_reads_no_events_since_nothing_holds_a_lease_to_send_them():
    plan = plan_poll(STREAMING, Status.WAITING, 0, 10_000)
    assert (plan.read_task, plan.read_events) == (True, False)


@pytest.mark.parametrize("since_change_ms", [0, 20_000, 120_000])
def test_a_running_stream_reads_events_every_poll_and_the_task_about_once_a_second(since_change_ms):
    reads, since_task_read, elapsed = [], 0, 0
    while elapsed < 10_000:
        plan = plan_poll(STREAMING, Status.RUNNING, since_change_ms, since_task_read)
        assert plan.read_events
        elapsed += plan.delay_ms
        if plan.read_task:
            reads.append(since_task_read + plan.delay_ms)
        since_task_read = 0 if plan.read_task else since_task_read + plan.delay_ms
    assert 8 <= len(reads) <= 10
    assert all(1_000 <= gap <= 1_200 for gap in reads[1:])


def test_while_things_happen_polls_are_fast_enough_for_the_latency_targets():
    # A uniformly placed event or complete waits half an interval on average, a whole one at most.
    running_stream = plan_poll(STREAMING, Status.RUNNING, 500, 0).delay_ms
    running_blocking = plan_poll(BLOCKING, Status.RUNNING, 500, 0).delay_ms
    assert running_stream / 2 <= 100 and running_stream <= 250
    assert running_blocking / 2 <= 50
    assert plan_poll(BLOCKING, Status.WAITING, 500, 0).delay_ms / 2 <= 50  # a worker that answers at once


def test_polls_slow_down_as_a_wait_goes_quiet():
    delays = [plan_poll(BLOCKING, Status.RUNNING, t, 0).delay_ms for t in (0, 10_000, 60_000)]
    assert delays == sorted(delays) and delays[0] < delays[-1]
    waiting = [plan_poll(BLOCKING, Status.WAITING, t, 0).delay_ms for t in (0, 2_000, 30_000)]
    assert waiting == sorted(waiting) and waiting[0] < waiting[-1]


def test_requests_per_second_counts_each_read():
    assert requests_per_second(PollPlan(100, read_task=True, read_events=True)) == 20.0
    assert requests_per_second(PollPlan(500, read_task=True, read_events=False)) == 2.0


# --- when changes are signalled (taskq/online/changes.py: the local server) -----------------


@pytest.mark.parametrize("mode", [BLOCKING, STREAMING])
@pytest.mark.parametrize("status", [Status.WAITING, Status.RUNNING])
@pytest.mark.parametrize("since_change_ms", [0, 2_000, 60_000])
def test_signalled_waits_poll_only_as_a_safety_net(mode, status, since_change_ms):
    plan = plan_poll(mode, status, since_change_ms, 0, signalled=True)
    assert plan.delay_ms == SIGNALLED_MS and 2_000 <= SIGNALLED_MS <= 5_000
    # 200 quiet waits: at most 80 requests a second in all (a running stream reads two items)
    assert requests_per_second(plan) * 200 <= 80


def test_a_signalled_wait_reads_whatever_the_change_may_have_been():
    # A wake does not say what changed: a running stream reads its events and the task (its end).
    running_stream = plan_poll(STREAMING, Status.RUNNING, 0, 0, signalled=True)
    assert (running_stream.read_task, running_stream.read_events) == (True, True)
    for mode, status in [(BLOCKING, Status.RUNNING), (BLOCKING, Status.WAITING), (STREAMING, Status.WAITING)]:
        plan = plan_poll(mode, status, 0, 0, signalled=True)
        assert (plan.read_task, plan.read_events) == (True, False)


def test_without_a_signal_the_schedule_is_the_polling_one():
    assert plan_poll(BLOCKING, Status.RUNNING, 0, 0, signalled=False) == plan_poll(BLOCKING, Status.RUNNING, 0, 0)
    assert plan_poll(BLOCKING, Status.RUNNING, 0, 0).delay_ms < SIGNALLED_MS
