"""The sweeper: ends leases and expires waiting tasks (spec §3.9).

Safe to run concurrently with takes, completes and other sweepers: it only ever applies a
conditional write on a task as it just read it, so whoever changed the task first wins and
the sweeper simply moves on.
"""

from __future__ import annotations

from collections import Counter

from .clock import Clock
from .leases import TIMEOUT_RESULT_KEY, LeaseEnd, lease_end, timeout_result
from .models import Status
from .store import DynamoStore


class Sweeper:
    def __init__(self, store: DynamoStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def sweep(self) -> Counter[str]:
        """One pass over every due task; returns how many were requeued, timed out or skipped."""
        now = self._clock.now_ms()
        report: Counter[str] = Counter()
        for task_id in self._store.due_task_ids(now):
            report[self._sweep_one(task_id, now).value] += 1
        return report

    def sweep_task(self, task_id: str) -> LeaseEnd:
        """The same rule for one task, now: for a waiting producer that saw its task's lease end
        before the scheduled sweep did (docs/design.md "Online tasks")."""
        return self._sweep_one(task_id, self._clock.now_ms())

    def _sweep_one(self, task_id: str, now: int) -> LeaseEnd:
        task = self._store.get_task(task_id)
        if task is None:
            return LeaseEnd.NOT_DUE
        action = lease_end(task, now)
        if action is LeaseEnd.REQUEUE:
            done = self._store.requeue(task, visible_time=0)
        elif action is LeaseEnd.TIMEOUT:
            # the status and its 408 result in one write (small: always stored on the task)
            result = timeout_result(task)
            done = self._store.finish(task, Status.TIMEOUT, now, result_lease=TIMEOUT_RESULT_KEY, result=result)
        else:
            return action
        # A failed condition means someone else (a complete, a cancel, another sweeper) got
        # there first; the task is theirs now.
        return action if done else LeaseEnd.NOT_DUE
