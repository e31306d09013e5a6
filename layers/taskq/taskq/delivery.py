"""Callback delivery (spec §4.1): when a task with a callback_url reaches succeeded, failed or
timeout, its result is POSTed there, retried with exponential backoff, and filed as a dead
letter when every attempt failed.

At most one successful delivery per task: the task's delivery record is created once and every
attempt claims it first (store/deliveries.py). A crash between a successful POST and its record
leaves the claim to lapse and the result to be sent again: HTTP offers no way to make those two
one step, so receivers dedupe by the X-Task-Id header.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from .clock import Clock
from .counters import COMPLETED
from .ids import new_lease_id
from .models import Status
from .store import Delivery, DynamoStore, Failure
from .store.codec import to_json
from .telemetry import NO_TELEMETRY, Telemetry

# How long an attempt may hold its claim: the POST's 10 s time-out with room to record the outcome.
CLAIM_SECONDS = 60
SEND_WORKERS = 16


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
    ) -> None:
        self._store = store
        self._clock = clock
        self._sender = sender
        self._policy = policy
        self._telemetry = telemetry
        self._workers = workers

    def start(self, delivery: Delivery) -> Claimed | None:
        """Creates the task's delivery record, claimed for the first attempt; None when it
        exists (a replayed record): that delivery is already someone's."""
        claim = Claimed(delivery, new_lease_id())
        now = self._clock.now_ms()
        if self._store.start_delivery(delivery, now, claim.claim_id, now + CLAIM_SECONDS * 1000):
            return claim
        self._telemetry.log("callback already started", task_id=delivery.task_id, queue=delivery.queue)
        return None

    def retry_due(self, limit: int = 1000) -> Counter[str]:
        """Claims up to `limit` due deliveries and makes their next attempt."""
        claimed = []
        for task_id in self._store.due_delivery_ids(self._clock.now_ms()):
            if len(claimed) == limit:
                break
            claim_id, now = new_lease_id(), self._clock.now_ms()
            delivery = self._store.claim_delivery(task_id, now, claim_id, now + CLAIM_SECONDS * 1000)
            if delivery is not None:
                claimed.append(Claimed(delivery, claim_id))
        return self.attempt_all(claimed)

    def attempt_all(self, claimed: Sequence[Claimed]) -> Counter[str]:
        """Makes each claimed attempt, side by side; returns how many ended how."""
        if len(claimed) <= 1 or self._workers <= 1:
            return Counter(self.attempt(c) for c in claimed)
        with ThreadPoolExecutor(max_workers=min(self._workers, len(claimed))) as pool:
            return Counter(pool.map(self.attempt, claimed))

    def attempt(self, claimed: Claimed) -> str:
        """One POST of the task's result and its outcome recorded: delivered, retry or dead."""
        delivery = claimed.delivery
        fields = {"task_id": delivery.task_id, "queue": f"{delivery.queue}:{delivery.level}"}
        try:
            result = self._store.get_result(delivery.task_id, delivery.result_lease) if delivery.result_lease else None
            if result is None:
                attempt = _Failed(f"no result stored for task {delivery.task_id}")
            else:
                body = to_json(result).encode()  # the stored form: the result exactly as completed
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "taskq-callback/1",
                    "X-Task-Id": delivery.task_id,
                    "X-Task-Status": delivery.task_status,
                }
                attempt = self._sender.post(delivery.url, body, headers)
            return self._settle(claimed, attempt, fields)
        except Exception:  # recorded nowhere: the claim lapses and the retry job takes it up
            self._telemetry.log("callback attempt failed to settle", level="error", **fields)
            return "unsettled"

    def _settle(self, claimed: Claimed, attempt: Any, fields: dict[str, Any]) -> str:
        delivery, now = claimed.delivery, self._clock.now_ms()
        attempts = delivery.attempts + 1
        if attempt.ok:
            self._store.record_delivered(delivery.task_id, claimed.claim_id, attempts, attempt.http_status, now)
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
