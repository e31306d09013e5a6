"""Clearing a queue-level (spec §3.10): every task waiting in it that was put before the call
is cancelled; none of them is handed out from the moment the call answers.

The call first stores the queue-level's `cleared_before` time, which every take reads (or
reuses from a read of the last 2 s, see below), so cleared tasks drop out of takes.
It then cancels what it can within `sync_limit`; a scheduled job (every minute in AWS, every
second locally) cancels the rest in pages. The ready index is the job's cursor: a cancelled
task leaves it, so a job that stops anywhere resumes where it stopped.
"""

from __future__ import annotations

from collections import Counter

from .clock import Clock
from .models import QueueLevel
from .store import DynamoStore
from .telemetry import NO_TELEMETRY, Telemetry

# A take trusts clear markers for this long from the moment before their read was sent (take.py;
# the read may be an earlier take's of the same instance, marker_cache.py), then reads them
# again; a clear answers only this long plus a margin (for the claim write in flight and clock
# skew between functions) after its marker is stored. So any claim made after the clear
# answered was preceded by a read of the gates that saw the marker.
GATES_TRUSTED_MS = 2_000
CLEAR_ANSWER_DELAY_MS = GATES_TRUSTED_MS + 1_000
SYNC_CANCEL_LIMIT = 500  # cancelled within the API call: about 2-3 s of conditional writes
PAGE_SIZE = 100
# The marker stays this long after the clear even when nothing is left: a task put just before
# the clear may reach the (eventually consistent) index only after a first empty look.
SETTLE_SECONDS = 10


class QueueClearer:
    def __init__(self, store: DynamoStore, clock: Clock, telemetry: Telemetry = NO_TELEMETRY, workers: int = 1) -> None:
        self._store = store
        self._clock = clock
        self._telemetry = telemetry
        self._workers = workers

    def clear(self, queue: QueueLevel, sync_limit: int = SYNC_CANCEL_LIMIT) -> bool:
        """Clears `queue`; True when every task it covers is already cancelled."""
        cleared_before = self._clock.now_ms()
        self._store.mark_cleared(queue, cleared_before)
        marked_at = self._clock.now_ms()
        cancelled, done = self._cancel(queue, cleared_before, sync_limit)
        # Takes that read the gates before the marker may still claim for a while: answer only
        # once they must have read them again (cancelling usually took that long anyway).
        wait_ms = marked_at + CLEAR_ANSWER_DELAY_MS - self._clock.now_ms()
        if wait_ms > 0:
            self._clock.sleep(wait_ms / 1000)
        self._telemetry.log("queue cleared", queue=str(queue), cancelled=cancelled, complete=done)
        return done

    def continue_pending(self, limit_per_queue: int = 100_000) -> Counter[str]:
        """One run of the background job over every unfinished clear."""
        report: Counter[str] = Counter()
        for queue, cleared_before in self._store.pending_clears():
            cancelled, done = self._cancel(queue, cleared_before, limit_per_queue)
            report["cancelled"] += cancelled
            settled = self._clock.now_ms() >= cleared_before + SETTLE_SECONDS * 1000
            if done and settled and self._store.retire_clear(queue, cleared_before):
                report["finished"] += 1
                self._telemetry.log("queue clear finished", queue=str(queue))
        return report

    def _cancel(self, queue: QueueLevel, cleared_before: int, limit: int) -> tuple[int, bool]:
        """Cancels up to `limit` covered tasks in every ready shard of the queue-level; (how
        many, whether none is left). The shard count is read here, strongly consistent, after
        the marker is stored: every shard a covered task can wait in is below it (counts only
        grow, and a put that used a raise read it after the raise answered)."""
        cancelled, done = 0, True
        for shard in range(self._store.queue_shards(queue)):
            in_shard, shard_done = self._cancel_shard(queue, shard, cleared_before, limit - cancelled)
            cancelled += in_shard
            done = done and shard_done
        return cancelled, done

    def _cancel_shard(self, queue: QueueLevel, shard: int, cleared_before: int, limit: int) -> tuple[int, bool]:
        cancelled = 0
        while cancelled < limit:
            page = min(PAGE_SIZE, limit - cancelled)
            task_ids = self._store.waiting_put_before(queue, cleared_before, page, shard=shard)
            if not task_ids:
                return cancelled, True
            now = self._clock.now_ms()

            def cancel(task_id: str, now: int = now) -> bool:
                return self._store.cancel_cleared(task_id, queue, cleared_before, now, shard=shard)

            if self._workers > 1:
                from concurrent.futures import ThreadPoolExecutor  # only a clear's fan-out (cold start)

                with ThreadPoolExecutor(max_workers=self._workers) as pool:
                    done = sum(pool.map(cancel, task_ids))
            else:
                done = sum(map(cancel, task_ids))
            cancelled += done
            if done == 0:  # only stale index entries (taken or cancelled meanwhile): look again later
                return cancelled, False
        return cancelled, False
