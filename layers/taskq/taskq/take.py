"""One take call (spec §3.3): read candidates, plan with the strategy, claim."""

from __future__ import annotations

import random
from collections.abc import Callable

from . import strategies
from .clearing import GATES_TRUSTED_MS
from .clock import Clock
from .contention import MAX_WIDTH
from .ids import new_lease_id
from .leases import lease_until
from .marker_cache import ClearMarkerCache
from .models import Candidate, QueueLevel, Strategy, Task
from .requests import TakeRequest
from .store import ClaimOutcome, DynamoStore, Lease, QueueGates

# Candidates read beyond `size` per queue by an instance that lost claims recently (its spread
# is above 1), so a lost claim has a stand-in without a new Query. One that lost none reads
# exactly `size`: it would never claim the stand-ins (index items read and parsed on every take),
# and a claim it does lose ends the round anyway, re-reading the head (wider) and widening the
# instance's spread.
CLAIM_SLACK = 4


def claim_slack(contended: bool) -> int:
    """The stand-ins a take reads per queue: none while neither its instance (a spread above 1,
    contention.py) nor the take itself has lost claims recently."""
    return CLAIM_SLACK if contended else 0


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
    concurrent takers won the candidates we had. Sequential reads its gates (locks, markers)
    and head tasks after its candidates, to claim without a read-back (`_claim_heads`).

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
        shards: list[int] | None = None,
        query_workers: int = 1,
    ) -> None:
        self.store = store
        # Ready shards per listed queue (the registration as the service last read it): the
        # head of each is read and merged into the queue's candidates (strategies.merge_shards).
        self.shards = shards or [1] * len(queues)
        self.query_workers = query_workers  # threads for the shard Queries of one round (_map)
        self.markers = markers or ClearMarkerCache()  # the instance's, so later takes reuse them
        self.clock = clock
        now = clock.now_ms()
        self.contended = spread > 1  # the instance lost claims recently (sequential too, though it never spreads)
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
        self.interrupted: Exception | None = None  # the failure that ended the take after claims

    def run(self) -> list[list[Task]]:
        cursor = 0
        sequential = self.strategy is Strategy.SEQUENTIAL
        if self.strategy is Strategy.ROUND_ROBIN and len(self.queues) > 1:  # one queue: no order to keep
            cursor = self.store.get_cursor(self.queues)
        if sequential:  # its markers come with its locks and head tasks, after the Query
            self.cleared_before, self.gates_read_at = self.markers.markers(self.queues)
        else:
            self._read_gates()

        try:
            self._claim_rounds(cursor, sequential)
        except Exception as error:  # a store call failed for good (throttled past every retry, ...)
            if not self.served:
                raise
            # What was claimed runs under this take's leases: hand it out now rather than have
            # the worker see a 500 and the tasks wait, unseen, for their leases to end.
            self.interrupted = error
        if self.strategy is not Strategy.ROUND_ROBIN:
            for tasks in self.taken:
                tasks.sort(key=lambda t: (t.start_time, t.task_id))
        return self.taken

    def _claim_rounds(self, cursor: int, sequential: bool) -> None:
        fruitless = 0  # rounds in a row that claimed nothing
        while fruitless < MAX_FRUITLESS_ROUNDS:
            served_before = len(self.served)
            missing = self.request.size - len(self.served)
            window = min(missing * self.spread, MAX_SPREAD_WINDOW) if self.spread > 1 else missing
            slack = claim_slack(self.contended or self.lost_claims > 0)
            candidates = self._read_candidates(window + slack)
            if sequential:
                lost_any = self._claim_heads(candidates)
            else:
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

    def _read_gates(self) -> None:
        """The queues' clear markers, read (one BatchGetItem) only where the instance's are no
        longer trusted."""
        read_at = self.clock.now_ms()
        stale = self.markers.stale(self.queues, read_at)
        if stale:
            gates = self.store.queue_gates(stale, self.now)
            self.markers.record(stale, read_at, gates.cleared_before)
        self.cleared_before, self.gates_read_at = self.markers.markers(self.queues)

    def _cleared(self, queue_index: int, candidate: Candidate) -> bool:
        """Whether a clear covers the candidate. Markers are trusted only for GATES_TRUSTED_MS
        (a clear answers only after that, see clearing.py): past it, they are read again."""
        if self.clock.now_ms() - self.gates_read_at >= GATES_TRUSTED_MS:
            self._read_gates()
        cleared_before = self.cleared_before.get(self.queues[queue_index])
        return cleared_before is not None and candidate.start_time <= cleared_before

    def _read_candidates(self, limit: int) -> list[list[Candidate]]:
        """Per listed queue, its earliest `limit` candidates not tried yet: the head of each of
        its ready shards, merged (strategies.merge_shards); none for a closed queue."""
        wanted = limit + len(self.tried)
        reads = [(i, shard) for i in range(len(self.queues)) if not self.closed[i] for shard in range(self.shards[i])]
        heads: dict[int, list[list[Candidate]]] = {i: [] for i in range(len(self.queues))}
        for (i, _), head in zip(reads, self._map(lambda read: self._read_shard(*read, wanted), reads), strict=True):
            heads[i].append(head)
        found = []
        for i in range(len(self.queues)):
            ready = heads[i][0] if len(heads[i]) == 1 else strategies.merge_shards(heads[i], wanted)
            # The index lags behind claims: skip what this call already tried.
            found.append([c for c in ready if c.task_id not in self.tried])
        return found

    def _read_shard(self, queue_index: int, shard: int, limit: int) -> list[Candidate]:
        request, queue = self.request, self.queues[queue_index]
        put_before = None if request.min_age_seconds is None else self.now - request.min_age_seconds * 1000
        return self.store.find_ready(
            queue,
            self.now,
            limit,
            endpoint=request.endpoint,
            put_before=put_before,
            put_after=self.cleared_before.get(queue),
            shard=shard,
        )

    def _map(self, read: Callable[[tuple[int, int]], list[Candidate]], reads: list[tuple[int, int]]):
        """The shard Queries, concurrently (up to `query_workers`) when a listed queue has more
        than one shard; in listed order otherwise, so an unsharded take sends what it always did."""
        if self.query_workers <= 1 or len(reads) <= len(self.queues):
            return list(map(read, reads))
        from concurrent.futures import ThreadPoolExecutor  # only a sharded queue's take (cold start)

        with ThreadPoolExecutor(max_workers=min(self.query_workers, len(reads))) as pool:
            return list(pool.map(read, reads))

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
            outcome, task = self.store.claim(candidate.task_id, self.now, self._lease(candidate.expire_time))
            if outcome is ClaimOutcome.CLAIMED and task is not None:
                self.taken[i].append(task)
                self.served.append(i)
                if plan.per_queue_cap is not None and len(self.taken[i]) >= plan.per_queue_cap:
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

    def _claim_heads(self, candidates: list[list[Candidate]]) -> bool:
        """Sequential: each open queue's earliest candidate, in listed order, one claim per
        queue. After the Query, one strongly consistent BatchGetItem reads the locks of the
        queues with candidates, the markers not trusted any more and each head task whole; the
        claim is guarded on the task as read, so it needs no read-back. A candidate found gone
        or lost makes way for its queue's next, read by the next BatchGetItem. True when one
        was, or when a marker differs from the one the Query was bounded by (read it again)."""
        walk: dict[int, list[Candidate]] = {}
        for attempt in strategies.plan_sequential(candidates, self.closed).attempts:
            walk.setdefault(attempt.queue_index, []).append(attempt.candidate)
        lost_any, gates = self._read_heads_and_gates(walk)
        while gates is not None:
            for i in list(walk):
                if len(self.served) == self.request.size:
                    return lost_any
                candidate = walk[i].pop(0)
                if self._cleared(i, candidate):
                    lost_any = True  # a clear came in meanwhile: read again, past its marker
                    walk[i] = []
                    continue
                self.tried.add(candidate.task_id)
                outcome, task = ClaimOutcome.TASK_GONE, None
                if (observed := gates.heads.get(candidate.task_id)) is not None:  # else deleted (TTL)
                    lease, queue = self._lease(candidate.expire_time), self.queues[i]
                    outcome, task = self.store.claim(candidate.task_id, self.now, lease, queue, observed=observed)
                if outcome is ClaimOutcome.CLAIMED and task is not None:
                    self.taken[i].append(task)
                    self.served.append(i)
                if outcome is ClaimOutcome.TASK_GONE:
                    lost_any = True
                    self.lost_claims += 1
                else:
                    self.closed[i] = True  # claimed (one per queue) or locked
                    walk[i] = []
            walk = {i: rest for i, rest in walk.items() if rest}
            heads = [rest[0].task_id for rest in walk.values()]
            gates = self.store.queue_gates((), self.now, heads=heads) if heads else None
        return lost_any

    def _read_heads_and_gates(self, walk: dict[int, list[Candidate]]) -> tuple[bool, QueueGates | None]:
        """The first BatchGetItem of a sequential round (see `_claim_heads`), none when there
        is nothing to claim and no marker to check. Closes the locked queues and takes out of
        `walk` those whose marker changed since the Query; True when one did."""
        bounds = dict(self.cleared_before)  # the markers the Query was bounded by
        # A queue that came back empty from an unbounded Query is empty whatever its marker.
        open_queues = [q for i, q in enumerate(self.queues) if i in walk or (not self.closed[i] and q in bounds)]
        read_at = self.clock.now_ms()
        stale = self.markers.stale(open_queues, read_at)
        if not walk and not stale:
            return False, None
        heads = [c[0].task_id for c in walk.values()]
        gates = self.store.queue_gates(stale, self.now, locks=[self.queues[i] for i in walk], heads=heads)
        self.markers.record(stale, read_at, gates.cleared_before)
        self.cleared_before, _ = self.markers.markers(self.queues)
        # Claims are made only in `walk`'s queues: their markers' age bounds them (_cleared).
        _, self.gates_read_at = self.markers.markers([self.queues[i] for i in walk])
        changed = False
        for i, queue in enumerate(self.queues):
            if queue in stale and self.cleared_before.get(queue) != bounds.get(queue):
                changed = True
                walk.pop(i, None)
            elif queue in gates.locked:
                self.closed[i] = True
                walk.pop(i, None)
        return changed, gates

    def _lease(self, expire_time: int) -> Lease:
        timeout = self.request.process_timeout
        until = lease_until(self.now, timeout, expire_time)
        return Lease(new_lease_id(), until, timeout, self.request.process_max_retries)
