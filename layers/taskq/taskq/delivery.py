"""Callback delivery (spec §4.1): when a task with a callback_url reaches succeeded, failed or
timeout, its result is POSTed there, retried with exponential backoff, and filed as a dead
letter when every attempt failed.

At most one successful delivery per task: the task's delivery record is created once, and
every attempt claims it (or renews the claim it was created with) just before its POST, for
longer than the POST's overall deadline (store/deliveries.py). A crash between a successful POST and its record
leaves the claim to lapse and the result to be sent again: HTTP offers no way to make those two
one step, so receivers dedupe by the X-Task-Id header.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol, TypeVar

from .clock import Clock
from .counters import COMPLETED
from .ids import new_lease_id
from .models import Status
from .store import Delivery, DynamoStore, Failure
from .store.codec import to_json
from .telemetry import NO_TELEMETRY, Telemetry

T = TypeVar("T")

# How long an attempt holds its claim, counted from just before its POST: the POST's overall
# deadline (callbacks.POST_TIMEOUT_SECONDS, 10 s) with ample room to record the outcome. A claim
# is taken (or renewed) per attempt, never per batch, so no POST is ever made on a lapsed claim.
CLAIM_SECONDS = 60
# A POST starts only while at least this share of its claim is left (15 s of 60: past the POST's
# deadline): the steps between the claim and the POST (reading the result) may have been slow,
# and a POST that could outlive its claim might be made again by the retry job meanwhile.
CLAIM_LEFT_TO_POST = 0.25
# Every delivery of a stream batch (at most 99 records) at once: a slow receiver holds up only
# its own delivery, never another task's, and a batch ends within one POST deadline.
SEND_WORKERS = 100


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt n + 1 follows attempt n after `backoff_seconds * 2 ** (n - 1)`; after
    `max_attempts` failed attempts the delivery is dead."""

    backoff_seconds: float = 30.0
    max_attempts: int = 6

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RetryPolicy:
        return cls(
            backoff_seconds=float(environ.get("TASKQ_CALLBACK_BACKOFF") or cls.backoff_seconds),
            max_attempts=int(environ.get("TASKQ_CALLBACK_ATTEMPTS") or cls.max_attempts),
        )

    def delay_after(self, attempts: int) -> float:
        """Seconds from failed attempt number `attempts` (1-based) to the next one."""
        return self.backoff_seconds * 2 ** (attempts - 1)

    def schedule(self) -> list[float]:
        """When each attempt is due, in seconds after the first one."""
        offsets = [0.0]
        for n in range(1, self.max_attempts):
            offsets.append(offsets[-1] + self.delay_after(n))
        return offsets


class Sender(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Any: ...


def delivery_from_record(record: Mapping[str, Any]) -> Delivery | None:
    """The delivery a stream record calls for: a task with a callback_url that just reached
    succeeded, failed or timeout. Repeats of a final status (none happen) never call for one."""
    images = record.get("dynamodb", {})
    old, new = images.get("OldImage") or {}, images.get("NewImage") or {}
    if not new or not new.get("callback_url", {}).get("S"):
        return None
    status = Status(new["status"]["S"])
    if status not in COMPLETED or (old and Status(old["status"]["S"]).is_final):
        return None
    return Delivery(
        task_id=new["task_id"]["S"],
        queue=new["queue"]["S"],
        level=int(new["level"]["N"]),
        url=new["callback_url"]["S"],
        task_status=status.value,
        result_lease=new.get("result_lease", {}).get("S", ""),
        result_text=new.get("result", {}).get("S"),  # written with the status: the result of result_lease
    )


@dataclass(frozen=True)
class Claimed:
    delivery: Delivery
    claim_id: str


class CallbackDispatcher:
    def __init__(
        self,
        store: DynamoStore,
        clock: Clock,
        sender: Sender,
        policy: RetryPolicy,
        telemetry: Telemetry = NO_TELEMETRY,
        workers: int = SEND_WORKERS,
        claim_seconds: float = CLAIM_SECONDS,
    ) -> None:
        self._store = store
        self._clock = clock
        self._sender = sender
        self._policy = policy
        self._telemetry = telemetry
        self._workers = workers
        self._claim_ms = int(claim_seconds * 1000)

    def start(self, delivery: Delivery) -> Claimed | None:
        """Creates the task's delivery record, claimed for the first attempt; None when it
        exists (a replayed record): that delivery is already someone's."""
        claim = Claimed(delivery, new_lease_id())
        now = self._clock.now_ms()
        if self._store.start_delivery(delivery, now, claim.claim_id, now + self._claim_ms):
            return claim
        self._telemetry.log("callback already started", task_id=delivery.task_id, queue=delivery.queue)
        return None

    def retry_due(self, limit: int = 1000) -> Counter[str]:
        """The next attempt of up to `limit` due deliveries, side by side, each claimed just
        before it is made."""
        due = list(islice(self._store.due_delivery_ids(self._clock.now_ms()), limit))
        return self._side_by_side(self._claim_and_attempt, due)

    def attempt_all(self, started: Sequence[Claimed]) -> Counter[str]:
        """The first attempt of each started delivery, side by side; returns how many ended how."""
        return self._side_by_side(self._renew_and_attempt, started)

    def _side_by_side(self, attempt: Callable[[T], str], items: Sequence[T]) -> Counter[str]:
        if len(items) <= 1 or self._workers <= 1:
            return Counter(map(attempt, items))
        with ThreadPoolExecutor(max_workers=min(self._workers, len(items))) as pool:
            return Counter(pool.map(attempt, items))

    def _claim_and_attempt(self, task_id: str) -> str:
        claim_id, now = new_lease_id(), self._clock.now_ms()
        try:
            delivery = self._store.claim_delivery(task_id, now, claim_id, now + self._claim_ms)
        except Exception:  # the claim lapses or was never taken: a later run takes the delivery up
            self._telemetry.log("callback claim failed", level="error", task_id=task_id)
            return "unsettled"
        if delivery is None:
            return "skipped"  # no longer due: another run claimed or settled it
        return self._attempt(Claimed(delivery, claim_id), claimed_until=now + self._claim_ms)

    def _renew_and_attempt(self, claimed: Claimed) -> str:
        """The claim taken with the record, renewed from now: the stream handler may reach
        this attempt late, and the retry job takes up any claim that lapsed meanwhile."""
        delivery, now = claimed.delivery, self._clock.now_ms()
        try:
            renewed = self._store.renew_delivery_claim(delivery.task_id, claimed.claim_id, now, now + self._claim_ms)
        except Exception:
            self._telemetry.log("callback claim failed", level="error", task_id=delivery.task_id)
            return "unsettled"
        if not renewed:
            self._telemetry.log("callback claim lapsed; the retry job has it", task_id=delivery.task_id)
            return "lapsed"
        return self._attempt(claimed, claimed_until=now + self._claim_ms)

    def _attempt(self, claimed: Claimed, claimed_until: int) -> str:
        """One POST of the task's result and its outcome recorded: delivered, retry or dead."""
        delivery = claimed.delivery
        fields = {"task_id": delivery.task_id, "queue": f"{delivery.queue}:{delivery.level}"}
        try:
            body = self._result_body(delivery)
            if self._clock.now_ms() > claimed_until - int(self._claim_ms * CLAIM_LEFT_TO_POST):
                self._telemetry.log("callback claim too short to post; the retry job has it", **fields)
                return "lapsed"
            if body is None:
                attempt = _Failed(f"no result stored for task {delivery.task_id}")
            else:
                attempt = self._post(delivery, body)  # the result exactly as completed
            return self._settle(claimed, attempt, fields)
        except Exception:  # recorded nowhere: the claim lapses and the retry job takes it up
            self._telemetry.log("callback attempt failed to settle", level="error", **fields)
            return "unsettled"

    def _result_body(self, delivery: Delivery) -> bytes | None:
        """The task's result as JSON: the stream record's, else one read (store.task_result)."""
        if delivery.result_text is not None:
            return delivery.result_text.encode()
        lease = delivery.result_lease
        result = self._store.task_result(delivery.task_id, lease) if lease else None
        return None if result is None else to_json(result).encode()

    def _post(self, delivery: Delivery, body: bytes) -> Any:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "taskq-callback/1",
            "X-Task-Id": delivery.task_id,
            "X-Task-Status": delivery.task_status,
        }
        try:
            return self._sender.post(delivery.url, body, headers)
        except Exception as e:  # whatever went wrong is a failed attempt: retried, then dead-lettered
            return _Failed(f"{type(e).__name__}: {e}"[:500])

    def _settle(self, claimed: Claimed, attempt: Any, fields: dict[str, Any]) -> str:
        delivery, now = claimed.delivery, self._clock.now_ms()
        attempts = delivery.attempts + 1
        if attempt.ok:
            if not self._store.record_delivered(delivery.task_id, claimed.claim_id, attempts, attempt.http_status, now):
                # Stalled past the claim after a POST that succeeded: the retry job took the
                # delivery up and sends it again (a POST and a write cannot be one step).
                self._telemetry.log("callback attempt failed to settle", level="error", claim="taken over", **fields)
                return "unsettled"
            self._telemetry.count("CallbacksDelivered")
            self._telemetry.log("callback delivered", attempts=attempts, http_status=attempt.http_status, **fields)
            return "delivered"
        failure = Failure(attempts, attempt.http_status, attempt.error)
        self._telemetry.count("CallbackFailures")
        self._telemetry.log("callback attempt failed", attempts=attempts, error=attempt.error, **fields)
        if attempts < self._policy.max_attempts:
            due = now + int(self._policy.delay_after(attempts) * 1000)
            self._store.record_retry(delivery.task_id, claimed.claim_id, failure, due)
            return "retry"
        self._store.record_dead(delivery, claimed.claim_id, failure, now)
        self._telemetry.count("CallbackDeadLetters")
        self._telemetry.log("callback dead-lettered", attempts=attempts, error=attempt.error, level="error", **fields)
        return "dead"


@dataclass(frozen=True)
class _Failed:
    error: str
    ok: bool = False
    http_status: int | None = None
