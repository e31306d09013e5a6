"""When a waiting producer polls DynamoDB next, and what it reads: a pure function of the
task's state and the time since something last changed (docs/design.md "Online tasks").

The budget it is built for (issue 11): at most 10 DynamoDB requests per waiting producer-second
at any moment; a worker's event reaches the producer within 100 ms at the median and 250 ms at
the 99th percentile while the task runs; a blocking answer leaves within 50 ms of the complete
at the median.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import ResponseMode, Status

# (time since the last change, poll interval) steps, in ms, then the idle interval: fast while
# something happens, slower as the wait goes quiet. A change is a status change or a new event.
WAITING_STEPS = ((2_000, 100), (30_000, 250))
BLOCKING_RUNNING_STEPS = ((10_000, 100), (60_000, 250))
# A stream reads its events at every poll and the task (to learn of the end) once a second:
# 110 ms polls are 10 event reads + 1 task read every 1.1 s. The end matters only after the
# last event, which the producer then already has; the stream closes up to ~1 s later.
STREAMING_RUNNING_STEPS = ((10_000, 110), (60_000, 250))
IDLE_MS = 500
STREAM_TASK_READ_MS = 1_000
# When writes are signalled (changes.py: the local server), a wait polls when its task changed;
# the interval is only a safety net against a missed signal (and the deadline and lease end
# still wake it, TaskWatch.next_poll). 200 quiet waits then cost 40 reads a second (80 for
# running streams, which read the task and the events), not up to 2,000.
SIGNALLED_MS = 5_000


@dataclass(frozen=True)
class PollPlan:
    delay_ms: int  # from the previous poll
    read_task: bool
    read_events: bool


def interval_ms(mode: ResponseMode, status: Status, since_change_ms: int) -> int:
    if status is Status.WAITING:
        steps = WAITING_STEPS
    elif mode is ResponseMode.STREAMING:
        steps = STREAMING_RUNNING_STEPS
    else:
        steps = BLOCKING_RUNNING_STEPS
    return next((every for until, every in steps if since_change_ms < until), IDLE_MS)


def plan_poll(
    mode: ResponseMode, status: Status, since_change_ms: int, since_task_read_ms: int, *, signalled: bool = False
) -> PollPlan:
    """The next poll of a wait whose task was last seen in `status`.

    A blocking wait reads only the task. A stream reads its events at every poll once a worker
    has the task (a waiting task has no lease, so no events can come) and the task about once a
    second (STREAM_TASK_READ_MS): its end matters only after its last event, and the stream reads
    the events once more when it sees the end, so nothing sent before the end is lost.

    `signalled`: a change wakes the wait (changes.py), which cannot tell an event from the end,
    so each poll reads what could have changed; the delay is the safety net's.
    """
    streaming_running = mode is ResponseMode.STREAMING and status is not Status.WAITING
    if signalled:
        return PollPlan(SIGNALLED_MS, read_task=True, read_events=streaming_running)
    delay = interval_ms(mode, status, since_change_ms)
    if mode is not ResponseMode.STREAMING or status is Status.WAITING:
        return PollPlan(delay, read_task=True, read_events=False)
    due = since_task_read_ms + delay >= STREAM_TASK_READ_MS
    return PollPlan(delay, read_task=due, read_events=True)


def requests_per_second(plan: PollPlan) -> float:
    """DynamoDB requests a second at this plan's rate (one per read): for the docs and the tests."""
    return (plan.read_task + plan.read_events) * 1000 / plan.delay_ms
