"""One producer's wait on its online task: each poll reads the task and its events, and says
how the wait ends (spec §4.2). Synchronous (it calls the store); the online function's async
loop runs it in a worker thread between sleeps.

The wait also acts where the producer must not wait for the scheduled sweeper: at the
deadline a task still waiting is cancelled, and a lease that ended is swept at once (timed out
when no retry is left, given back otherwise), each with the conditional writes every other
writer uses, so a worker's complete that lands first wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..clock import Clock
from ..http_errors import error_body
from ..leases import LeaseEnd, lease_end
from ..models import ResponseMode, Status, Task, WorkerEvent
from ..store import DynamoStore
from ..sweeper import Sweeper
from .schedule import PollPlan, plan_poll


@dataclass(frozen=True)
class Ending:
    """How a wait ends. `status` and `body` are the blocking answer; `error` is the data of a
    stream's last `event: error` frame, None when the task succeeded. `from_worker`: status and
    body are the worker's result (the task succeeded or failed), not the service's error body."""

    status: int
    body: Any
    error: dict[str, Any] | None = None
    from_worker: bool = False


@dataclass
class Progress:
    events: list[WorkerEvent] = field(default_factory=list)
    ending: Ending | None = None


def result_status(result: dict[str, Any] | None) -> int:
    """The HTTP status a result asks for: its `status_code` (a number or a numeric string,
    default 200). One that is no final HTTP status becomes 502: the worker's answer is bad."""
    code = (result or {}).get("status_code", 200)
    try:
        status = int(code)
    except (TypeError, ValueError):
        return 502
    return status if 200 <= status <= 599 else 502


def ending_of(task: Task, result: dict[str, Any] | None) -> Ending:
    """The answer for a task in a final status, with its result."""
    if task.status is Status.CANCELLED:
        message = f"task {task.task_id} was cancelled"
        return Ending(409, error_body(409, message), {"code": 409, "message": message, "result": result})
    if task.status is Status.TIMEOUT:
        message = f"task {task.task_id} timed out: no worker finished it in time"
        return Ending(408, error_body(408, message), {"code": 408, "message": message, "result": result})
    status = result_status(result)
    body = (result or {}).get("body", {})
    if task.status is Status.SUCCEEDED:
        return Ending(status, body, from_worker=True)
    message = f"task {task.task_id} failed with status_code {status}"
    return Ending(status, body, {"code": status, "message": message, "result": result}, from_worker=True)


def cancelled_at_deadline(task: Task) -> Ending:
    seconds = (task.expire_time - task.start_time) // 1000
    message = f"task {task.task_id} was not taken within its timeout of {seconds} s; it was cancelled"
    return Ending(408, error_body(408, message), {"code": 408, "message": message, "result": None})


class TaskWatch:
    """Polls one online task for a producer; `after_seq` is the last event it already has."""

    def __init__(self, store: DynamoStore, clock: Clock, task: Task, *, after_seq: int = 0, resumed: bool = False):
        self._store = store
        self._clock = clock
        self._task = task
        self._cursor = after_seq
        # A client's Last-Event-ID may fall inside a stored batch; the stream's own cursor never does.
        self._inside_batch = resumed
        self._resumed = resumed
        now = clock.now_ms()
        self._last_change = now
        self._last_task_read = now

    @property
    def task(self) -> Task:
        return self._task

    @property
    def streaming(self) -> bool:
        return self._task.response_mode is ResponseMode.STREAMING

    def next_poll(self, *, signalled: bool = False) -> PollPlan:
        """The next poll, woken early for the moment the wait must act: the deadline of a
        waiting task, the lease end of a running one. A resumed stream first reads at once.
        `signalled`: changes wake the wait (schedule.plan_poll)."""
        now = self._clock.now_ms()
        if self._resumed:
            self._resumed = False
            return PollPlan(0, read_task=True, read_events=True)
        task = self._task
        # A clock that jumped back would hold the stream's task reads (and with them its end)
        # until it caught up: the intervals restart from now instead.
        self._last_change, self._last_task_read = min(self._last_change, now), min(self._last_task_read, now)
        since_change, since_task_read = now - self._last_change, now - self._last_task_read
        plan = plan_poll(task.response_mode, task.status, since_change, since_task_read, signalled=signalled)
        act_at = task.expire_time if task.status is Status.WAITING else task.lease_expire_time
        # Only a moment still ahead: one already passed was acted on by the poll that saw it.
        if now < act_at <= now + plan.delay_ms:
            return PollPlan(act_at - now, read_task=True, read_events=plan.read_events)
        return plan

    def poll(self, plan: PollPlan) -> Progress:
        progress = Progress()
        if plan.read_events:
            progress.events += self._read_events()
        if plan.read_task:
            before = self._task.status
            progress.ending = self._read_task()
            moved = self._task.status is not before
            if self.streaming and (progress.ending is not None or (moved and not plan.read_events)):
                progress.events += self._read_events()  # what the worker sent before the end
        if progress.events:
            self._last_change = self._clock.now_ms()
        return progress

    def _read_events(self) -> list[WorkerEvent]:
        events = self._store.events_after(self._task.task_id, self._cursor, from_batch_start=not self._inside_batch)
        self._inside_batch = False
        if events:
            self._cursor = events[-1].seq
        return events

    def _read_task(self, *, after_sweep: bool = False) -> Ending | None:
        now = self._clock.now_ms()
        self._last_task_read = now
        task = self._store.get_task(self._task.task_id)
        if task is None:  # removed by TTL long after it ended
            message = f"task {self._task.task_id} no longer exists"
            return Ending(404, error_body(404, message), {"code": 404, "message": message, "result": None})
        if task.status is not self._task.status:
            self._last_change = now
        self._task = task
        if task.status.is_final:
            return ending_of(task, self._result(task))
        if task.status is Status.WAITING and task.expire_time <= now:
            if self._store.finish(task, Status.CANCELLED, now, result_lease=None):
                self._task = replace(task, status=Status.CANCELLED)
                return cancelled_at_deadline(task)
            return None  # a worker took it meanwhile: the next poll sees how
        if not after_sweep and lease_end(task, now) is not LeaseEnd.NOT_DUE:
            Sweeper(self._store, self._clock).sweep_task(task.task_id)
            return self._read_task(after_sweep=True)  # timed out, given back, or finished meanwhile
        return None

    def _result(self, task: Task) -> dict[str, Any] | None:
        # The task as read carries a result up to 64 KiB; the store's one reader finds a larger one.
        if not task.result_lease:
            return task.result
        return self._store.task_result(task.task_id, task.result_lease, task)
