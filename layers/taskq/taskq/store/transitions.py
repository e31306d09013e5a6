"""Moving a task on from `waiting` or `running`: finishing, giving back, extending the lease;
results; and the sweep index that finds ended leases and expired tasks.

Every change is conditional on the task still being as the caller observed it (its status
and, when running, its lease), so a stale worker or a concurrent sweeper can never undo a
newer state: the loser's condition fails and it decides again from a fresh read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from ..config import retention_seconds
from ..models import Status, Task
from .base import StoreBase
from .codec import expression_values, is_condition_failure, to_item, to_json
from .keys import SWEEP_INDEX, SWEEP_SHARDS, result_key, task_key


class TaskTransitions(StoreBase):
    def _observed_update(
        self, task: Task, expression: str, values: dict[str, Any], extra_condition: str = ""
    ) -> dict[str, Any]:
        """An UpdateItem that applies only while the task is as observed: same status and,
        when running, the same lease with the same end (a heartbeat after our read moves it,
        and a sweeper that saw the old end must then leave the task to its worker)."""
        condition = "#status = :observed"
        values = values | {"observed": task.status.value}
        if task.status is Status.RUNNING:
            condition += " AND lease_id = :observed_lease AND lease_expire_time = :observed_expire"
            values |= {"observed_lease": task.lease_id, "observed_expire": task.lease_expire_time}
        return {
            "TableName": self._tables.tasks,
            "Key": task_key(task.task_id),
            "UpdateExpression": expression,
            "ConditionExpression": condition + extra_condition,
            "ExpressionAttributeNames": {"#status": "status", "#ttl": "ttl"}
            if "#ttl" in expression
            else {"#status": "status"},
            "ExpressionAttributeValues": expression_values(**values),
        }

    def finish(self, task: Task, status: Status, now: int, *, result_lease: str | None) -> bool:
        """Moves a waiting or running task to a final status, taking it out of both indexes and
        releasing its sequential lock. False when the task changed meanwhile."""
        sets = "#status = :final, completed_time = :now, #ttl = :ttl"
        values: dict[str, Any] = {"final": status.value, "now": now, "ttl": now // 1000 + retention_seconds()}
        if result_lease is not None:
            sets += ", result_lease = :result_lease"
            values["result_lease"] = result_lease
        update = self._observed_update(task, f"SET {sets} REMOVE ready_queue, lock_key, sweep_shard, sweep_at", values)
        return self._update_task(task, update, self._lock_release(task))

    def requeue(self, task: Task, visible_time: int) -> bool:
        """Gives a running task back: `waiting` again with its original `start_time` (its fifo
        place), takeable from `visible_time`, its lock released."""
        update = self._observed_update(
            task,
            "SET #status = :waiting, ready_queue = :queue, visible_time = :visible, sweep_at = :expire REMOVE lock_key",
            {
                "waiting": Status.WAITING.value,
                "queue": str(task.queue_level),
                "visible": visible_time,
                "expire": task.expire_time,
            },
        )
        return self._update_task(task, update, self._lock_release(task))

    def extend_lease(self, task: Task, now: int, until: int) -> bool:
        """Moves the end of a running task's lease, and of its lock; False when the lease is
        no longer the task's or has already ended."""
        update = self._observed_update(
            task,
            "SET lease_expire_time = :until, sweep_at = :until",
            {"until": until, "now": now},
            extra_condition=" AND lease_expire_time > :now",
        )
        return self._update_task(task, update, self._lock_extension(task, until), lock_required=True)

    def due_task_ids(self, now: int, page_size: int = 100) -> Iterator[str]:
        """Tasks whose lease ended or that expired while waiting, as of `now`: read from the
        sparse sweep index, so the cost follows the number of due tasks, not the table."""
        items = self._due_items(
            self._tables.tasks, SWEEP_INDEX, "sweep_shard", "sweep_at", SWEEP_SHARDS, now, page_size
        )
        yield from (item["task_id"]["S"] for item in items)

    def put_result(self, task_id: str, lease_id: str, result: dict[str, Any], now: int) -> dict[str, Any]:
        """Writes the result produced under `lease_id`; the first write per lease wins.
        Returns the result stored: `result`, or the one an earlier write under the lease left."""
        try:
            self._db.put_item(
                TableName=self._tables.results,
                Item=to_item(
                    {
                        "task_id": task_id,
                        "lease_id": lease_id,
                        "result": to_json(result),
                        "created_time": now,
                        "ttl": now // 1000 + retention_seconds(),
                    }
                ),
                ConditionExpression="attribute_not_exists(task_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if not is_condition_failure(e):
                raise
            existing = e.response.get("Item")  # absent where the backend does not return it
            if existing is not None:
                return json.loads(existing["result"]["S"])
            stored = self.get_result(task_id, lease_id)
            return result if stored is None else stored
        return result

    def get_result(self, task_id: str, lease_id: str) -> dict[str, Any] | None:
        item = self._db.get_item(
            TableName=self._tables.results, Key=result_key(task_id, lease_id), ConsistentRead=True
        ).get("Item")
        return None if item is None else json.loads(item["result"]["S"])
