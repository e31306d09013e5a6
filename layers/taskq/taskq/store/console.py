"""What only the console reads and writes: a queue-level's next waiting and running tasks, and
turning a dead delivery back into a pending one (docs/design.md "Console")."""

from __future__ import annotations

import enum
from typing import Any

from botocore.exceptions import ClientError

from ..models import QueueLevel
from .base import StoreBase
from .codec import expression_values, from_item, is_transaction_cancelled
from .deliveries import DEAD, DELIVERED, PENDING
from .keys import READY_INDEX, SWEEP_INDEX, SWEEP_SHARDS, callback_shard, dead_letter_key, delivery_key, task_key

# How many sweep index entries of each shard the queue page looks at for running tasks.
RUNNING_SCAN_PER_SHARD = 25
REDELIVER_ATTEMPTS = 3


class Redelivery(enum.Enum):
    STARTED = "started"  # dead -> pending, due now
    ALREADY_PENDING = "pending"  # a redelivery (or the first delivery) is under way
    DELIVERED = "delivered"
    NOT_FOUND = "not_found"


class ConsoleRecords(StoreBase):
    def next_waiting(self, queue: QueueLevel, limit: int) -> list[dict[str, Any]]:
        """The oldest waiting tasks of a queue-level, from the ready index (no task item read)."""
        page = self._db.query(
            TableName=self._tables.tasks,
            IndexName=READY_INDEX,
            KeyConditionExpression="ready_queue = :queue",
            ExpressionAttributeValues=expression_values(queue=str(queue)),
            Limit=limit,
        )
        return [
            {
                "task_id": v["task_id"],
                "start_time": int(v["start_time"]),
                "expire_time": int(v["expire_time"]),
                "visible_time": int(v.get("visible_time", 0)),
            }
            for v in map(from_item, page.get("Items", []))
        ]

    def running_tasks(self, queue: QueueLevel, limit: int) -> list[dict[str, Any]]:
        """Running tasks of a queue-level, soonest lease end first, among the first
        RUNNING_SCAN_PER_SHARD unfinished tasks of each sweep shard: there is no per-queue index
        of running tasks (it would cost every claim an index write), so busy queues may show
        only some."""
        keys = []
        for shard in range(SWEEP_SHARDS):
            page = self._db.query(
                TableName=self._tables.tasks,
                IndexName=SWEEP_INDEX,
                KeyConditionExpression="sweep_shard = :shard",
                ExpressionAttributeValues=expression_values(shard=str(shard)),
                Limit=RUNNING_SCAN_PER_SHARD,
            )
            keys += [task_key(item["task_id"]["S"]) for item in page.get("Items", [])]
        items = self._batch_get(
            self._tables.tasks,
            keys,
            projection="task_id, #queue, #level, #status, start_time, running_time, lease_expire_time, attempts",
            names={"#queue": "queue", "#level": "level", "#status": "status"},
        )
        running = [
            {
                "task_id": v["task_id"],
                "start_time": int(v["start_time"]),
                "running_time": int(v.get("running_time") or 0),
                "lease_expire_time": int(v.get("lease_expire_time") or 0),
                "attempts": int(v.get("attempts") or 0),
            }
            for v in map(from_item, items)
            if v.get("status") == "running" and v.get("queue") == queue.name and int(v.get("level", -1)) == queue.level
        ]
        return sorted(running, key=lambda t: (t["lease_expire_time"], t["task_id"]))[:limit]

    def redeliver(self, task_id: str, now: int, claim_id: str) -> Redelivery:
        """A dead delivery becomes pending again, due now, with a fresh retry budget, and its
        dead letter goes, in one transaction. The retry job then claims and sends it like any
        due retry, so at most one attempt is ever in flight and a delivered one is never sent."""
        for _ in range(REDELIVER_ATTEMPTS):
            record = self.delivery_state(task_id)
            if record is None:
                return Redelivery.NOT_FOUND
            if record["state"] != DEAD:
                return Redelivery.DELIVERED if record["state"] == DELIVERED else Redelivery.ALREADY_PENDING
            try:
                self._db.transact_write_items(TransactItems=self._redelivery(task_id, record, now, claim_id))
                return Redelivery.STARTED
            except ClientError as e:
                if not is_transaction_cancelled(e):
                    raise
                # it moved meanwhile (another redeliver), or contention: read it again
        raise RuntimeError(f"redelivering {task_id}: the delivery kept changing")

    def _redelivery(self, task_id: str, record: dict[str, Any], now: int, claim_id: str) -> list[dict[str, Any]]:
        failed_time = int(record["failed_time"])
        update = {
            "TableName": self._tables.control,
            "Key": delivery_key(task_id),
            "UpdateExpression": "SET #state = :pending, attempts = :zero, claim_id = :claim, due_shard = :shard, "
            "due_at = :now, redelivered_time = :now REMOVE failed_time",
            "ConditionExpression": "#state = :dead AND failed_time = :failed",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": expression_values(
                pending=PENDING,
                zero=0,
                claim=claim_id,
                shard=callback_shard(task_id),
                now=now,
                dead=DEAD,
                failed=failed_time,
            ),
        }
        letter = {"TableName": self._tables.control, "Key": dead_letter_key(failed_time, task_id)}
        return [{"Update": update}, {"Delete": letter}]
