"""One take call (spec §3.3): read candidates, plan with the strategy, claim."""

from __future__ import annotations

import random

from . import strategies
from .clearing import GATES_TRUSTED_MS
from .clock import Clock
from .contention import MAX_WIDTH
from .ids import new_lease_id
from .leases import lease_until
from .marker_cache import ClearMarkerCache
from .models import Candidate, QueueLevel, Strategy, Task
from .requests import TakeRequest
from .store import ClaimOutcome, DynamoStore, Lease

# Candidates read beyond `size` per queue, so a claim lost to a concurrent taker has a stand-in.
CLAIM_SLACK = 4
# Rounds in a row that may claim nothing (every attempt lost) before a take gives up: each ends
# at its first lost claim when the strategy spreads, at its last stand-in otherwise.
MAX_FRUITLESS_ROUNDS = 5
# Most candidates a contended take spreads its claims over, per queue (one index page of a few KB).
MAX_SPREAD_WINDOW = 256
# Sequential must claim each queue's earliest task: its order is the point, so it never spreads.
SPREADING = {Strategy.FIFO, Strategy.ACTIVE_PASSIVE, Strategy.ROUND_ROBIN}
_rng = random.Random()  # noqa: S311 - spreads claims, guards nothing


class TakeRun:
    """One take call: read candidates, plan with the strategy, claim, and re-read only when
    concurrent takers won the candidates we had.

    `spread` > 1 (see contention.py) tries the first `spread * missing` candidates of each
    queue in random order, so concurrent takers stop fighting over the same earliest task."""

    def __init__(
        self,
        store: DynamoStore,
        clock: Clock,
        request: TakeRequest,
        queues: list[QueueLevel],
        spread: int = 1,
        markers: ClearMarkerCache | None = None,
    ) -> None:
        self.store = store
        self.markers = markers or ClearMarkerCache()  # the instance's, so later takes reuse them
        self.clock = clock
        now = clock.now_ms()
        self.spread = spread if request.strategy in SPREADING else 1
        self.now = now
        self.request = request
        self.queues = queues
        self.strategy = request.strategy
        self.taken: list[list[Task]] = [[] for _ in queues]
        self.served: list[int] = []  # queue index of each claim, in claim order
        self.tried: set[str] = set()
        self.closed = [False] * len(queues)  # sequential: locked, or served once in this call
        self.cleared_before: dict[QueueLevel, int] = {}  # queue clears in progress (clearing.py)
        self.gates_read_at = 0  # clock time before the oldest read of the markers in use
        self.lost_claims = 0  # candidates a concurrent taker claimed first

    def run(self) -> list[list[Task]]:
        cursor = 0
        if self.strategy is Strategy.ROUND_ROBIN and len(self.queues) > 1:  # one queue: no order to keep
            cursor = self.store.get_cursor(self.queues)
        self._read_gates()

        fruitless = 0  # rounds in a row that claimed nothing
        while fruitless < MAX_FRUITLESS_ROUNDS:
            served_before = len(self.served)
            missing = self.request.size - len(self.served)
            window = min(missing * self.spread, MAX_SPREAD_WINDOW) if self.spread > 1 else missing
            candidates = self._read_candidates(window + CLAIM_SLACK)
            round_cursor = strategies.next_cursor(self.served, cursor, len(self.queues))
            plan = strategies.plan(self.strategy, candidates, cursor=round_cursor, locked=self.closed)
            if window > missing:
                plan = strategies.spread(plan, window, _rng)
            lost_any = self._claim(plan)
            if len(self.served) == self.request.size or not lost_any:
                break
            fruitless = fruitless + 1 if len(self.served) == served_before else 0

        if self.strategy is Strategy.ROUND_ROBIN and self.served:
            new_cursor = strategies.next_cursor(self.served, cursor, len(self.queues))
            if new_cursor != cursor:
                self.store.set_cursor(self.queues, new_cursor)
        if self.strategy is not Strategy.ROUND_ROBIN:
            for tasks in self.taken:
                tasks.sort(key=lambda t: (t.start_time, t.task_id))
        return self.taken

    def _read_gates(self) -> None:
        """The queues' clear markers, read only where the instance's are no longer trusted, and
        for sequential its locks, always read (a lock lives seconds): at most one BatchGetItem."""
        read_at = self.clock.now_ms()
        stale = self.markers.stale(self.queues, read_at)
        sequential = self.strategy is Strategy.SEQUENTIAL
        if stale or sequential:
            gates = self.store.queue_gates(stale, self.now, locks=self.queues if sequential else ())
            self.markers.record(stale, read_at, gates.cleared_before)
            if sequential:
                self.closed = [closed or q in gates.locked for closed, q in zip(self.closed, self.queues, strict=True)]
        self.cleared_before, self.gates_read_at = self.markers.markers(self.queues)

    def _cleared(self, queue_index: int, candidate: Candidate) -> bool:
        """Whether a clear covers the candidate. Markers are trusted only for GATES_TRUSTED_MS
        (a clear answers only after that, see clearing.py): past it, they are read again."""
        if self.clock.now_ms() - self.gates_read_at >= GATES_TRUSTED_MS:
            self._read_gates()
        cleared_before = self.cleared_before.get(self.queues[queue_index])
        return cleared_before is not None and candidate.start_time <= cleared_before

    def _read_candidates(self, limit: int) -> list[list[Candidate]]:
        request = self.request
        put_before = None if request.min_age_seconds is None else self.now - request.min_age_seconds * 1000
        found = []
        for i, queue in enumerate(self.queues):
            if self.closed[i]:
                found.append([])
                continue
            ready = self.store.find_ready(
                queue,
                self.now,
                limit + len(self.tried),
                endpoint=request.endpoint,
                put_before=put_before,
                put_after=self.cleared_before.get(queue),
            )
            # The index lags behind claims: skip what this call already tried.
            found.append([c for c in ready if c.task_id not in self.tried])
        return found

    def _claim(self, plan: strategies.Plan) -> bool:
        """Claims along the plan until `size`; True when a candidate was lost to someone else."""
        lost_any = False
        attempts = list(plan.attempts)
        position = 0
        while position < len(attempts) and len(self.served) < self.request.size:
            i, candidate = attempts[position].queue_index, attempts[position].candidate
            position += 1
            if self.closed[i] or candidate.task_id in self.tried:
                continue
            if self._cleared(i, candidate):
                lost_any = True  # a clear came in meanwhile: read again, past its marker
                continue
            self.tried.add(candidate.task_id)
            outcome, task = self.store.claim(
                candidate.task_id, self.now, self._lease(candidate.expire_time), self._lock_for(i)
            )
            if outcome is ClaimOutcome.CLAIMED and task is not None:
                self.taken[i].append(task)
                self.served.append(i)
                if plan.per_queue_cap is not None and len(self.taken[i]) >= plan.per_queue_cap:
                    self.closed[i] = True
            elif outcome is ClaimOutcome.QUEUE_LOCKED:
                self.closed[i] = True
            else:
                lost_any = True
                self.lost_claims += 1
                if self.strategy in SPREADING:
                    # Others are claiming from the same head, so what this round read is going
                    # stale claim by claim: read it again, wider, rather than lose more writes.
                    self.spread = min(max(2, self.spread * 2), MAX_WIDTH)
                    return True
        return lost_any

    def _lease(self, expire_time: int) -> Lease:
        timeout = self.request.process_timeout
        until = lease_until(self.now, timeout, expire_time)
        return Lease(new_lease_id(), until, timeout, self.request.process_max_retries)

    def _lock_for(self, queue_index: int) -> QueueLevel | None:
        return self.queues[queue_index] if self.strategy is Strategy.SEQUENTIAL else None
