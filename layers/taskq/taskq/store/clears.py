"""Queue clears (spec §3.10): the `CLEAR` marker of a queue-level and the cancellation of the
waiting tasks it covers.

While a marker stands, takes read only tasks put after `cleared_before` (a key condition on the
ready index), so a cleared task is never handed out, however long cancelling it takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..config import retention_seconds
from ..models import QueueLevel, Status, Task
from .base import StoreBase
from .codec import expression_values, from_item, is_condition_failure, item_to_task
from .keys import READY_INDEX, clear_key, lock_key, ready_key, task_key

GATE_PROJECTION = "pk, sk, cleared_before, expires_at"


@dataclass(frozen=True)
class QueueGates:
    """What a take must know about its queues before reading candidates."""

    cleared_before: dict[QueueLevel, int] = field(default_factory=dict)
    locked: frozenset[QueueLevel] = frozenset()  # sequential locks held by an unexpired lease
    heads: dict[str, Task] = field(default_factory=dict)  # sequential: the tasks asked for, as read


class ClearRecords(StoreBase):
    def mark_cleared(self, queue: QueueLevel, cleared_before: int) -> None:
        """Sets the queue-level's marker; a later clear's marker is never moved back."""
        try:
            self._db.update_item(
                TableName=self._tables.control,
                Key=clear_key(queue),
                UpdateExpression="SET cleared_before = :t",
                ConditionExpression="attribute_not_exists(pk) OR cleared_before < :t",
                ExpressionAttributeValues=expression_values(t=cleared_before),
            )
        except ClientError as e:
            if not is_condition_failure(e):
                raise

    def queue_gates(
        self,
        markers: Sequence[QueueLevel],
        now: int,
        *,
        locks: Sequence[QueueLevel] = (),
        heads: Sequence[str] = (),
    ) -> QueueGates:
        """The clear markers of `markers`, the held sequential locks of `locks` and the whole
        tasks `heads` (a sequential take's candidates): one strongly consistent BatchGetItem
        across both tables (none when all are empty), so a clear that has answered is always
        seen. A queue-level of `markers` missing from the answer has no marker; a task of
        `heads` missing from `QueueGates.heads` does not exist."""
        keys = [clear_key(q) for q in dict.fromkeys(markers)] + [lock_key(q) for q in dict.fromkeys(locks)]
        task_keys = [task_key(t) for t in dict.fromkeys(heads)]
        if not keys and not task_keys:
            return QueueGates()
        reads = {self._tables.control: (keys, GATE_PROJECTION), self._tables.tasks: (task_keys, None)}
        found = self._batch_get_tables({table: read for table, read in reads.items() if read[0]}, consistent=True)
        cleared, locked = {}, set()
        for item in found.get(self._tables.control, []):
            v = from_item(item)
            if v["pk"] == "CLEAR":
                cleared[QueueLevel.parse(v["sk"])] = int(v["cleared_before"])
            elif int(v["expires_at"]) > now:
                locked.add(QueueLevel.parse(v["pk"].removeprefix("LOCK#")))
        tasks = {t.task_id: t for t in map(item_to_task, found.get(self._tables.tasks, []))}
        return QueueGates(cleared, frozenset(locked), tasks)

    def pending_clears(self) -> list[tuple[QueueLevel, int]]:
        page = self._db.query(
            TableName=self._tables.control,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=expression_values(pk="CLEAR"),
        )
        return [(QueueLevel.parse(v["sk"]), int(v["cleared_before"])) for v in map(from_item, page.get("Items", []))]

    def retire_clear(self, queue: QueueLevel, cleared_before: int) -> bool:
        """Removes the marker unless a later clear replaced it."""
        try:
            self._db.delete_item(
                TableName=self._tables.control,
                Key=clear_key(queue),
                ConditionExpression="cleared_before = :t",
                ExpressionAttributeValues=expression_values(t=cleared_before),
            )
        except ClientError as e:
            if is_condition_failure(e):
                return False
            raise
        return True

    def waiting_put_before(self, queue: QueueLevel, cleared_before: int, limit: int, shard: int = 0) -> list[str]:
        """Up to `limit` ids from the head of a ready shard put at or before `cleared_before`.
        Cancelled tasks leave the index, so the index itself is the job's cursor."""
        page = self._db.query(
            TableName=self._tables.tasks,
            IndexName=READY_INDEX,
            KeyConditionExpression="ready_queue = :queue AND start_time <= :t",
            ExpressionAttributeValues=expression_values(queue=ready_key(queue, shard), t=cleared_before),
            ProjectionExpression="task_id",
            Limit=limit,
        )
        return [item["task_id"]["S"] for item in page.get("Items", [])]

    def cancel_cleared(self, task_id: str, queue: QueueLevel, cleared_before: int, now: int, shard: int = 0) -> bool:
        """Cancels a task still waiting in `queue` (its ready `shard`) put at or before `cleared_before`
        (a waiting task holds no lock, so no transaction). False when it moved on meanwhile."""
        values: dict[str, Any] = {
            "waiting": Status.WAITING.value,
            "cancelled": Status.CANCELLED.value,
            "queue": ready_key(queue, shard),
            "t": cleared_before,
            "now": now,
            "ttl": now // 1000 + retention_seconds(),
        }
        try:
            self._db.update_item(
                TableName=self._tables.tasks,
                Key=task_key(task_id),
                UpdateExpression="SET #status = :cancelled, completed_time = :now, #ttl = :ttl "
                "REMOVE ready_queue, sweep_shard, sweep_at",
                ConditionExpression="#status = :waiting AND ready_queue = :queue AND start_time <= :t",
                ExpressionAttributeNames={"#status": "status", "#ttl": "ttl"},
                ExpressionAttributeValues=expression_values(**values),
            )
        except ClientError as e:
            if is_condition_failure(e):
                return False
            raise
        return True
