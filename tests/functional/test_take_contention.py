"""Claims lost to concurrent takers (docs/design.md "The claim protocol"): the take still
answers `size` tasks, spreads its claims over the head while it keeps losing them, and is back
to the exact fifo order once the contention is over (taskq/contention.py)."""

from __future__ import annotations

from apigw import Caller
from steps import put, register, take, taken_ids

from taskq.clock import ManualClock
from taskq.contention import DECAY_MS
from taskq.models import QueueLevel
from taskq.service import QueueService
from taskq.store import DynamoStore, Lease

Q = "busy:0"


class RivalStore(DynamoStore):
    """Before each of our next `steals` claims, a concurrent taker claims the same task first."""

    def __init__(self, store: DynamoStore, steals: int) -> None:
        super().__init__(store._db, store._tables)
        self.steals = steals
        self.stolen: list[str] = []

    def claim(self, task_id: str, now: int, lease: Lease, lock: QueueLevel | None = None):
        if self.steals > 0:
            self.steals -= 1
            self.stolen.append(task_id)
            super().claim(task_id, now, Lease("LEASE-rival", now + 60_000, 60, 0), lock)
        return super().claim(task_id, now, lease, lock)


def test_a_contended_take_still_answers_size_tasks_then_returns_to_fifo(
    admin: Caller, producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, serve
) -> None:
    register(admin, "busy")
    ids = []
    for _ in range(40):
        ids.append(put(producer, "busy"))
        clock.advance(seconds=1)
    rival = RivalStore(store, steals=3)
    serve(QueueService(rival, clock))

    # When three of its claims are lost to a concurrent taker
    first = taken_ids(take(worker, [Q], 2, strategy="fifo"))[Q]

    # Then it still takes two waiting tasks, none of those the rival got, from near the head
    assert len(first) == 2 and not set(first) & set(rival.stolen)
    assert set(first) <= set(ids[:20])

    # And once nothing was lost for a while, it takes the earliest waiting tasks again, in order
    clock.advance(ms=DECAY_MS * 8)
    waiting = [i for i in ids if i not in set(first) | set(rival.stolen)]
    assert taken_ids(take(worker, [Q], 3, strategy="fifo")) == {Q: waiting[:3]}
