"""Putting, finding and claiming tasks (Tasks table, its ready index, sequential locks)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import Conflict
from ..models import Candidate, QueueLevel, Status, Task
from .base import StoreBase
from .codec import (
    cancellation_codes,
    expression_values,
    from_item,
    is_condition_failure,
    is_transaction_cancelled,
    item_to_task,
    outcome_unknown,
    task_attributes,
    to_item,
)
from .keys import READY_INDEX, idempotency_key, index_attributes, lock_key, ready_key, task_key

IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600


class ClaimOutcome(Enum):
    CLAIMED = "claimed"
    TASK_GONE = "task_gone"  # taken, finished or expired meanwhile: try the next candidate
    QUEUE_LOCKED = "queue_locked"  # sequential: another task holds the queue's lock


@dataclass(frozen=True)
class Lease:
    lease_id: str
    expire_time: int
    process_timeout: int | None
    max_retries: int


@dataclass(frozen=True)
class IdempotencyRecord:
    scope: str  # the producer's key id
    key: str
    body_hash: str


class IdempotencyConflict(Conflict):
    def __init__(self) -> None:
        super().__init__("Idempotency-Key: already used with a different request body")


def first_task_of(record: dict[str, Any], idempotency: IdempotencyRecord) -> str:
    """The task id an existing idempotency record names; 409 when its body differs."""
    first = from_item(record)
    if first["body_hash"] != idempotency.body_hash:
        raise IdempotencyConflict()
    return first["task_id"]


def held_by(lease: Lease, task: Task | None, otherwise: ClaimOutcome) -> tuple[ClaimOutcome, Task | None]:
    """CLAIMED when `task` is running under `lease`: our claim committed and nothing ended it
    since (a cancel right after the claim means the task is not handed out); else `otherwise`."""
    if task is not None and task.status is Status.RUNNING and task.lease_id == lease.lease_id:
        return ClaimOutcome.CLAIMED, task
    return otherwise, None


def _takeable(task: Task, now: int) -> bool:
    """What a claim's condition requires of the task, checked on a read of it."""
    return task.status is Status.WAITING and task.expire_time > now and task.visible_time <= now


def claimed_as(observed: Task, now: int, lease: Lease, lock: QueueLevel | None) -> Task:
    """The task a claim guarded on `observed` leaves: the read plus the claim's SETs above."""
    return replace(
        observed,
        status=Status.RUNNING,
        running_time=now,
        lease_id=lease.lease_id,
        lease_expire_time=lease.expire_time,
        max_retries=lease.max_retries,
        attempts=observed.attempts + 1,
        process_timeout=lease.process_timeout,
        holds_lock=lock is not None,
    )


class TaskRecords(StoreBase):
    def put_task(self, task: Task, idempotency: IdempotencyRecord | None, now: int) -> str:
        """Stores a new waiting task. With an idempotency record, the task and the record are
        written in one transaction, so a crash can never leave one without the other; a repeat
        returns the first task's id."""
        put = self._new_task_put(task)
        if idempotency is None:
            try:
                self._db.put_item(**put)
            except ClientError as e:
                # The id is new and random: an item under it can only be this put's own, committed
                # by a send whose answer was lost before botocore sent it again.
                if not is_condition_failure(e):
                    raise
            return task.task_id
        key = idempotency_key(idempotency.scope, idempotency.key)
        record_put = self._idempotency_put(idempotency, task.task_id, now)
        for _ in range(5):
            try:
                self._db.transact_write_items(TransactItems=[{"Put": put}, {"Put": record_put}])
                return task.task_id
            except ClientError as e:
                if not is_transaction_cancelled(e):
                    raise
            existing = self._db.get_item(TableName=self._tables.control, Key=key, ConsistentRead=True).get("Item")
            if existing is not None:
                return first_task_of(existing, idempotency)
            time.sleep(0.05)  # a concurrent put with the same key is still committing
        raise Conflict("Idempotency-Key: a concurrent request with this key is in progress; retry")

    def _new_task_put(self, task: Task) -> dict[str, Any]:
        """The write that creates a task, guarded like every put (docs/design.md state machine)."""
        item = to_item(task_attributes(task) | index_attributes(task))
        return {"TableName": self._tables.tasks, "Item": item, "ConditionExpression": "attribute_not_exists(task_id)"}

    def _idempotency_put(self, idempotency: IdempotencyRecord, task_id: str, now: int) -> dict[str, Any]:
        """The record of an idempotency key, written only where none lives (or it expired)."""
        record = idempotency_key(idempotency.scope, idempotency.key) | to_item(
            {
                "task_id": task_id,
                "body_hash": idempotency.body_hash,
                "expires_at": now + IDEMPOTENCY_WINDOW_SECONDS * 1000,
                "ttl": now // 1000 + IDEMPOTENCY_WINDOW_SECONDS,
            }
        )
        return {
            "TableName": self._tables.control,
            "Item": record,
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
            "ExpressionAttributeValues": expression_values(now=now),
        }

    def get_task(self, task_id: str) -> Task | None:
        item = self._db.get_item(TableName=self._tables.tasks, Key=task_key(task_id), ConsistentRead=True).get("Item")
        return None if item is None else item_to_task(item)

    def find_ready(
        self,
        queue: QueueLevel,
        now: int,
        limit: int,
        *,
        endpoint: str | None = None,
        put_before: int | None = None,
        put_after: int | None = None,
        shard: int = 0,
    ) -> list[Candidate]:
        """Up to `limit` takeable tasks of one ready shard of a queue-level, earliest first; with
        `put_after` (a queue clear), only tasks put after that time.

        `Limit` applies before the filter, so a page can come back short; later pages are read
        only while filtered-out tasks (expired, delayed, other endpoints) stand at the head.
        """
        key_condition = "ready_queue = :queue"
        values: dict[str, Any] = {"queue": ready_key(queue, shard), "now": now}
        if put_after is not None:  # times are integers: "> after" is ">= after + 1"
            upper = 2**53 if put_before is None else put_before
            if put_after + 1 > upper:
                # An empty window (min_age reaches back before a clear): DynamoDB rejects a
                # BETWEEN whose bounds are inverted, and nothing could qualify anyway.
                return []
            key_condition += " AND start_time BETWEEN :put_from AND :put_before"
            values |= {"put_from": put_after + 1, "put_before": upper}
        elif put_before is not None:
            key_condition += " AND start_time <= :put_before"
            values["put_before"] = put_before
        filters = ["expire_time > :now", "visible_time <= :now"]
        if endpoint is not None:
            filters.append("endpoint = :endpoint")
            values["endpoint"] = endpoint
        request: dict[str, Any] = {
            "TableName": self._tables.tasks,
            "IndexName": READY_INDEX,
            "KeyConditionExpression": key_condition,
            "FilterExpression": " AND ".join(filters),
            "ExpressionAttributeValues": expression_values(**values),
            "ProjectionExpression": "task_id, start_time, expire_time",
            "ScanIndexForward": True,
        }
        found: list[Candidate] = []
        page_limit = limit
        while True:
            page = self._db.query(**request, Limit=page_limit)
            found += [
                Candidate(i["task_id"]["S"], int(i["start_time"]["N"]), int(i["expire_time"]["N"]))
                for i in page.get("Items", [])
            ]
            if len(found) >= limit or "LastEvaluatedKey" not in page:
                return found[:limit]
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            page_limit = min(page_limit * 2, 1000)

    def claim(
        self, task_id: str, now: int, lease: Lease, lock: QueueLevel | None = None, *, observed: Task | None = None
    ) -> tuple[ClaimOutcome, Task | None]:
        """Grants the task to a new lease if it is still takeable. With `lock`, the queue's
        sequential lock is taken in the same transaction, so neither exists without the other.

        A transaction returns no values, so a sequential claim is of the task as read
        (`observed`, read here when the caller has not) and is conditioned also on its
        `attempts` being as read: every way back to `waiting` passes through a claim, which
        bumps them, and every other change leaves `waiting`. So the task as read with the
        claim's changes is the claimed task, and no read-back is needed."""
        if lock is not None and observed is None:
            observed = self.get_task(task_id)
            if observed is None:
                return ClaimOutcome.TASK_GONE, None
        if observed is not None and not _takeable(observed, now):
            return ClaimOutcome.TASK_GONE, None  # the read already shows it: spare the write
        sets = [
            "#status = :running",
            "running_time = :now",
            "lease_id = :lease_id",
            "lease_expire_time = :lease_expire_time",
            "sweep_at = :lease_expire_time",
            "max_retries = :max_retries",
        ]
        removes = ["ready_queue"]
        condition = "#status = :waiting AND expire_time > :now AND visible_time <= :now"
        values: dict[str, Any] = {
            "running": Status.RUNNING.value,
            "waiting": Status.WAITING.value,
            "now": now,
            "lease_id": lease.lease_id,
            "lease_expire_time": lease.expire_time,
            "max_retries": lease.max_retries,
        }
        if observed is None:
            sets.append("attempts = attempts + :one")
            values["one"] = 1
        else:
            sets.append("attempts = :attempts")
            condition += " AND attempts = :observed_attempts"
            values |= {"attempts": observed.attempts + 1, "observed_attempts": observed.attempts}
        if lease.process_timeout is None:
            removes.append("process_timeout")
        else:
            sets.append("process_timeout = :process_timeout")
            values["process_timeout"] = lease.process_timeout
        if lock is not None:
            sets.append("lock_key = :lock_key")
            values["lock_key"] = str(lock)
        update = {
            "TableName": self._tables.tasks,
            "Key": task_key(task_id),
            "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": expression_values(**values),
        }
        try:
            if lock is None:
                return self._claim_alone(update, lease)
            outcome = self._claim_with_lock(update, lease, lock, task_id, now)
            if outcome is ClaimOutcome.CLAIMED and observed is not None:
                return outcome, claimed_as(observed, now, lease, lock)
            return outcome, None
        except (BotoCoreError, ClientError) as e:
            if isinstance(e, ClientError) and not outcome_unknown(e):
                raise
            # The claim may have committed with its answer lost for good: one consistent read
            # tells (a read that fails too raises, so the take fails rather than guess).
            return held_by(lease, self.get_task(task_id), ClaimOutcome.TASK_GONE)

    def _claim_alone(self, update: dict[str, Any], lease: Lease) -> tuple[ClaimOutcome, Task | None]:
        try:
            item = self._db.update_item(**update, ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as e:
            if not is_condition_failure(e):
                raise
            # botocore retries a claim whose answer was lost; the retry then fails its condition
            # against our own committed claim, which the failure's image (the item as it is) shows.
            return self._claimed_by(lease, e.response.get("Item"), update["Key"], ClaimOutcome.TASK_GONE)
        return ClaimOutcome.CLAIMED, item_to_task(item["Attributes"])

    def _claim_with_lock(
        self, update: dict[str, Any], lease: Lease, lock: QueueLevel, task_id: str, now: int
    ) -> ClaimOutcome:
        lock_put = {
            "TableName": self._tables.control,
            "Item": lock_key(lock) | to_item({"task_id": task_id, "expires_at": lease.expire_time}),
            # A lock lapses with the lease that took it, even before the sweeper runs.
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
            "ExpressionAttributeValues": expression_values(now=now),
        }
        items = [{"Put": lock_put}, {"Update": update | {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}]
        try:
            # botocore fills in ClientRequestToken, so DynamoDB answers a retried transaction that
            # already committed with success; servers that ignore the token cancel it instead.
            self._db.transact_write_items(TransactItems=items)
        except ClientError as e:
            if not is_transaction_cancelled(e):
                raise
            reasons = e.response.get("CancellationReasons", [])
            lock_code, task_code = [*cancellation_codes(e), "", ""][:2]
            otherwise = ClaimOutcome.QUEUE_LOCKED if lock_code == "ConditionalCheckFailed" else ClaimOutcome.TASK_GONE
            if task_code != "ConditionalCheckFailed":
                return otherwise
            # A retried claim of ours fails its own guard too: the image (the task as it is
            # now) then carries our lease, and the task as read plus our changes is still it.
            return self._claimed_by(lease, reasons[1].get("Item"), update["Key"], otherwise)[0]
        return ClaimOutcome.CLAIMED

    def _claimed_by(
        self, lease: Lease, item: dict[str, Any] | None, key: dict[str, Any], otherwise: ClaimOutcome
    ) -> tuple[ClaimOutcome, Task | None]:
        """CLAIMED when the task, as a failed claim condition found it, already carries this
        claim's lease (an earlier send of the same claim committed); else `otherwise`. Without
        the image (a backend that does not return it), one consistent read."""
        if item is None:
            item = self._db.get_item(TableName=self._tables.tasks, Key=key, ConsistentRead=True).get("Item")
        return held_by(lease, None if item is None else item_to_task(item), otherwise)

    def held_locks(self, queues: Sequence[QueueLevel], now: int) -> set[QueueLevel]:
        """The queues whose sequential lock is held by an unexpired lease."""
        keys = [lock_key(q) for q in dict.fromkeys(queues)]
        held = set()
        for item in self._batch_get(self._tables.control, keys, projection="pk, expires_at", consistent=True):
            v = from_item(item)
            if int(v["expires_at"]) > now:
                held.add(QueueLevel.parse(v["pk"].removeprefix("LOCK#")))
        return held
