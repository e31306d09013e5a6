"""The one module that talks to DynamoDB: every boto3 call, key format and condition expression.

Tables (defined in template.yaml):
- Tasks, keyed by `task_id`. While a task is `waiting` it carries `ready_queue` (`name:level`),
  which puts it in the sparse `ReadyByQueue` index sorted by `start_time`. A claim removes it.
- Control, keyed by `pk`/`sk`: queue registrations, round-robin cursors, sequential locks and
  idempotency records.
- Results, keyed by `task_id`/`lease_id`: a result is written under the lease that produced it
  before the fenced status change names it, so a crash between the two loses nothing and a
  stale worker can never overwrite the accepted result.

The ready index is eventually consistent: it only suggests candidates. Every grant is a
conditional write on the task item itself.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from .config import TableNames, retention_seconds
from .errors import Conflict
from .models import Candidate, QueueLevel, ResponseMode, Status, Task

READY_INDEX = "ReadyByQueue"
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _values(**values: Any) -> dict[str, Any]:
    return {f":{k}": _serializer.serialize(v) for k, v in values.items()}


def _error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _cancellation_codes(error: ClientError) -> list[str]:
    return [reason.get("Code", "") for reason in error.response.get("CancellationReasons", [])]


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


def task_to_item(task: Task) -> dict[str, Any]:
    values: dict[str, Any] = {
        "task_id": task.task_id,
        "ak": task.ak,
        "queue": task.queue,
        "level": task.level,
        "endpoint": task.endpoint,
        # Stored as JSON text: keeps floats and key order exactly as put, with no Decimal round trip.
        "data": json.dumps(task.data, separators=(",", ":")),
        "status": task.status.value,
        "start_time": task.start_time,
        "expire_time": task.expire_time,
        "response_mode": task.response_mode.value,
        "callback_url": task.callback_url,
        "batch_id": task.batch_id,
        "trace_id": task.trace_id,
        "instance_id": task.instance_id,
        "running_time": task.running_time,
        "completed_time": task.completed_time,
        "attempts": task.attempts,
        "max_retries": task.max_retries,
        "visible_time": task.visible_time,
    }
    if task.status is Status.WAITING:
        values["ready_queue"] = str(task.queue_level)
    return _to_item(values)


def item_to_task(item: dict[str, Any]) -> Task:
    v = _from_item(item)
    process_timeout = v.get("process_timeout")
    return Task(
        task_id=v["task_id"],
        ak=v["ak"],
        queue=v["queue"],
        level=int(v["level"]),
        endpoint=v["endpoint"],
        data=json.loads(v["data"]),
        status=Status(v["status"]),
        start_time=int(v["start_time"]),
        expire_time=int(v["expire_time"]),
        response_mode=ResponseMode(v["response_mode"]),
        callback_url=v.get("callback_url", ""),
        batch_id=v.get("batch_id", ""),
        trace_id=v.get("trace_id", ""),
        instance_id=v.get("instance_id", ""),
        running_time=int(v.get("running_time", 0)),
        completed_time=int(v.get("completed_time", 0)),
        attempts=int(v.get("attempts", 0)),
        lease_id=v.get("lease_id", ""),
        lease_expire_time=int(v.get("lease_expire_time", 0)),
        process_timeout=None if process_timeout is None else int(process_timeout),
        max_retries=int(v.get("max_retries", 0)),
        visible_time=int(v.get("visible_time", 0)),
        holds_lock="lock_key" in v,
        result_lease=v.get("result_lease", ""),
    )


def body_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class DynamoStore:
    """Data access for the queue service. Methods take `now` (epoch ms) from the caller's clock."""

    def __init__(self, client: Any, tables: TableNames) -> None:
        self._db = client
        self._tables = tables

    # --- keys --------------------------------------------------------------------------------

    @staticmethod
    def _queue_key(name: str) -> dict[str, Any]:
        return _to_item({"pk": f"QUEUE#{name}", "sk": "QUEUE"})

    @staticmethod
    def _lock_key(queue: QueueLevel) -> dict[str, Any]:
        return _to_item({"pk": f"LOCK#{queue}", "sk": "LOCK"})

    @staticmethod
    def _cursor_key(queues: Sequence[QueueLevel]) -> dict[str, Any]:
        digest = hashlib.sha256(",".join(map(str, queues)).encode()).hexdigest()
        return _to_item({"pk": f"CURSOR#{digest}", "sk": "CURSOR"})

    @staticmethod
    def _idempotency_key(record: IdempotencyRecord) -> dict[str, Any]:
        return _to_item({"pk": f"IDEMPOTENCY#{record.scope}", "sk": record.key})

    def _task_key(self, task_id: str) -> dict[str, Any]:
        return _to_item({"task_id": task_id})

    # --- queues ------------------------------------------------------------------------------

    def register_queue(self, name: str, endpoint: str, now: int) -> None:
        """Creates the registration, or accepts a repeat with the same endpoint; else Conflict."""
        try:
            self._db.put_item(
                TableName=self._tables.control,
                Item=self._queue_key(name) | _to_item({"endpoint": endpoint, "created_time": now}),
                ConditionExpression="attribute_not_exists(pk) OR endpoint = :endpoint",
                ExpressionAttributeValues=_values(endpoint=endpoint),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise
            existing = _from_item(e.response.get("Item", {})).get("endpoint", "?")
            raise Conflict(f"queue: {name!r} is already registered with endpoint {existing!r}") from e

    def queue_endpoints(self, names: Iterable[str]) -> dict[str, str]:
        """The registered endpoint of each name that is registered (one BatchGetItem for <= 100)."""
        keys = [self._queue_key(n) for n in dict.fromkeys(names)]
        found: dict[str, str] = {}
        for item in self._batch_get(self._tables.control, keys, projection="pk, endpoint"):
            v = _from_item(item)
            found[v["pk"].removeprefix("QUEUE#")] = v["endpoint"]
        return found

    # --- tasks -------------------------------------------------------------------------------

    def put_task(self, task: Task, idempotency: IdempotencyRecord | None, now: int) -> str:
        """Stores a new task. With an idempotency record, the task and the record are written in
        one transaction, so a crash can never leave one without the other; a repeat returns the
        first task's id."""
        item = task_to_item(task)
        if idempotency is None:
            self._db.put_item(
                TableName=self._tables.tasks, Item=item, ConditionExpression="attribute_not_exists(task_id)"
            )
            return task.task_id
        record = self._idempotency_key(idempotency) | _to_item(
            {
                "task_id": task.task_id,
                "body_hash": idempotency.body_hash,
                "expires_at": now + IDEMPOTENCY_WINDOW_SECONDS * 1000,
                "ttl": now // 1000 + IDEMPOTENCY_WINDOW_SECONDS,
            }
        )
        for _ in range(5):
            try:
                self._db.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self._tables.tasks,
                                "Item": item,
                                "ConditionExpression": "attribute_not_exists(task_id)",
                            }
                        },
                        {
                            "Put": {
                                "TableName": self._tables.control,
                                "Item": record,
                                "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                                "ExpressionAttributeValues": _values(now=now),
                            }
                        },
                    ]
                )
                return task.task_id
            except ClientError as e:
                if _error_code(e) != "TransactionCanceledException":
                    raise
            existing = self._db.get_item(
                TableName=self._tables.control, Key=self._idempotency_key(idempotency), ConsistentRead=True
            ).get("Item")
            if existing is not None:
                first = _from_item(existing)
                if first["body_hash"] != idempotency.body_hash:
                    raise IdempotencyConflict()
                return first["task_id"]
            time.sleep(0.05)  # a concurrent put with the same key is still committing
        raise Conflict("Idempotency-Key: a concurrent request with this key is in progress; retry")

    def get_task(self, task_id: str) -> Task | None:
        item = self._db.get_item(TableName=self._tables.tasks, Key=self._task_key(task_id), ConsistentRead=True).get(
            "Item"
        )
        return None if item is None else item_to_task(item)

    def find_ready(
        self,
        queue: QueueLevel,
        now: int,
        limit: int,
        *,
        endpoint: str | None = None,
        put_before: int | None = None,
    ) -> list[Candidate]:
        """Up to `limit` takeable tasks of one queue-level, earliest first.

        `Limit` applies before the filter, so a page can come back short; later pages are read
        only while filtered-out tasks (expired, delayed, other endpoints) stand at the head.
        """
        key_condition = "ready_queue = :queue"
        values: dict[str, Any] = {"queue": str(queue), "now": now}
        if put_before is not None:
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
            "ExpressionAttributeValues": _values(**values),
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
        self, task_id: str, now: int, lease: Lease, lock: QueueLevel | None = None
    ) -> tuple[ClaimOutcome, Task | None]:
        """Grants the task to a new lease if it is still takeable. With `lock`, the queue's
        sequential lock is taken in the same transaction, so neither can exist without the other."""
        sets = [
            "#status = :running",
            "running_time = :now",
            "lease_id = :lease_id",
            "lease_expire_time = :lease_expire_time",
            "max_retries = :max_retries",
            "attempts = attempts + :one",
        ]
        removes = ["ready_queue"]
        values: dict[str, Any] = {
            "running": Status.RUNNING.value,
            "waiting": Status.WAITING.value,
            "now": now,
            "lease_id": lease.lease_id,
            "lease_expire_time": lease.expire_time,
            "max_retries": lease.max_retries,
            "one": 1,
        }
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
            "Key": self._task_key(task_id),
            "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            "ConditionExpression": "#status = :waiting AND expire_time > :now AND visible_time <= :now",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": _values(**values),
        }
        if lock is None:
            try:
                item = self._db.update_item(**update, ReturnValues="ALL_NEW")["Attributes"]
            except ClientError as e:
                if _error_code(e) == "ConditionalCheckFailedException":
                    return ClaimOutcome.TASK_GONE, None
                raise
            return ClaimOutcome.CLAIMED, item_to_task(item)

        lock_item = self._lock_key(lock) | _to_item({"task_id": task_id, "expires_at": lease.expire_time})
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._tables.control,
                            "Item": lock_item,
                            # A lock lapses with the lease that took it, even before the sweeper runs.
                            "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
                            "ExpressionAttributeValues": _values(now=now),
                        }
                    },
                    {"Update": update},
                ]
            )
        except ClientError as e:
            if _error_code(e) != "TransactionCanceledException":
                raise
            lock_code = (_cancellation_codes(e) or [""])[0]
            if lock_code == "ConditionalCheckFailed":
                return ClaimOutcome.QUEUE_LOCKED, None
            return ClaimOutcome.TASK_GONE, None
        task = self.get_task(task_id)
        return ClaimOutcome.CLAIMED, task

    def held_locks(self, queues: Sequence[QueueLevel], now: int) -> set[QueueLevel]:
        """The queues whose sequential lock is held by an unexpired lease."""
        keys = [self._lock_key(q) for q in dict.fromkeys(queues)]
        held = set()
        for item in self._batch_get(self._tables.control, keys, projection="pk, expires_at", consistent=True):
            v = _from_item(item)
            if int(v["expires_at"]) > now:
                held.add(QueueLevel.parse(v["pk"].removeprefix("LOCK#")))
        return held

    def finish(self, task: Task, status: Status, now: int, *, result_lease: str | None) -> bool:
        """Moves a task that is `task.status` (waiting or running under `task.lease_id`) to a
        final status, releasing its sequential lock. False when the task changed meanwhile."""
        sets = ["#status = :final", "completed_time = :now", "#ttl = :ttl"]
        values: dict[str, Any] = {
            "final": status.value,
            "now": now,
            "ttl": now // 1000 + retention_seconds(),
            "observed": task.status.value,
        }
        condition = "#status = :observed"
        if task.status is Status.RUNNING:
            condition += " AND lease_id = :lease_id"
            values["lease_id"] = task.lease_id
        if result_lease is not None:
            sets.append("result_lease = :result_lease")
            values["result_lease"] = result_lease
        update = {
            "TableName": self._tables.tasks,
            "Key": self._task_key(task.task_id),
            "UpdateExpression": f"SET {', '.join(sets)} REMOVE ready_queue, lock_key",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#status": "status", "#ttl": "ttl"},
            "ExpressionAttributeValues": _values(**values),
        }
        if task.holds_lock and self._update_releasing_lock(update, task):
            return True
        try:
            self._db.update_item(**update)
        except ClientError as e:
            if _error_code(e) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _update_releasing_lock(self, update: dict[str, Any], task: Task) -> bool:
        """Applies `update` and deletes the task's queue lock in one transaction. False when the
        lock is no longer this task's (it lapsed and was taken over): the caller then applies
        the update alone."""
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {"Update": update},
                    {
                        "Delete": {
                            "TableName": self._tables.control,
                            "Key": self._lock_key(task.queue_level),
                            "ConditionExpression": "task_id = :task_id",
                            "ExpressionAttributeValues": _values(task_id=task.task_id),
                        }
                    },
                ]
            )
        except ClientError as e:
            if _error_code(e) == "TransactionCanceledException":
                return False
            raise
        return True

    # --- results -----------------------------------------------------------------------------

    def put_result(self, task_id: str, lease_id: str, result: dict[str, Any], now: int) -> None:
        """Writes the result produced under `lease_id`; the first write per lease wins."""
        try:
            self._db.put_item(
                TableName=self._tables.results,
                Item=_to_item(
                    {
                        "task_id": task_id,
                        "lease_id": lease_id,
                        "result": json.dumps(result, separators=(",", ":")),
                        "created_time": now,
                        "ttl": now // 1000 + retention_seconds(),
                    }
                ),
                ConditionExpression="attribute_not_exists(task_id)",
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise

    def get_result(self, task_id: str, lease_id: str) -> dict[str, Any] | None:
        item = self._db.get_item(
            TableName=self._tables.results,
            Key=_to_item({"task_id": task_id, "lease_id": lease_id}),
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else json.loads(item["result"]["S"])

    # --- round robin -------------------------------------------------------------------------

    def get_cursor(self, queues: Sequence[QueueLevel]) -> int:
        item = self._db.get_item(TableName=self._tables.control, Key=self._cursor_key(queues)).get("Item")
        return 0 if item is None else int(item["next"]["N"])

    def set_cursor(self, queues: Sequence[QueueLevel], value: int) -> None:
        self._db.put_item(TableName=self._tables.control, Item=self._cursor_key(queues) | _to_item({"next": value}))

    # --- helpers -----------------------------------------------------------------------------

    def _batch_get(
        self, table: str, keys: list[dict[str, Any]], *, projection: str, consistent: bool = False
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {
                table: {
                    "Keys": keys[start : start + 100],
                    "ProjectionExpression": projection,
                    "ConsistentRead": consistent,
                }
            }
            for attempt in range(8):
                answer = self._db.batch_get_item(RequestItems=pending)
                items += answer.get("Responses", {}).get(table, [])
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.01 * 2**attempt)  # throttled: back off before asking for the rest
            else:
                raise RuntimeError(f"BatchGetItem on {table} left keys unprocessed after retries")
        return items
