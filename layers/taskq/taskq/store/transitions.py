"""Moving a task on from `waiting` or `running`: finishing, giving back, extending the lease;
results; and the sweep index that finds ended leases and expired tasks.

A final status and its result are one write: the result is stored on the task item itself
(`result`, JSON text) in the update that sets the status. Only a result above
`INLINE_RESULT_BYTES` gets an item of its own in the Results table, written first.

Every change is conditional on the task still being as the caller observed it (its status
and, when running, its lease), so a stale worker or a concurrent sweeper can never undo a
newer state: the loser's condition fails and it decides again from a fresh read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..config import retention_seconds
from ..models import Status, Task
from ..permissions import QueueScope
from .base import StoreBase
from .codec import expression_values, is_condition_failure, item_to_task, to_item, to_json
from .keys import SWEEP_INDEX, SWEEP_SHARDS_READ, ready_key, result_key, task_key

# Results up to this size (serialized, UTF-8) are stored on the task item. The item then holds
# at most the 256 KiB payload + 64 KiB of result + about 2 KB of other attributes: 330 KB, well
# below DynamoDB's 400 KB item limit (409 600 bytes). A larger result (up to 256 KiB) would not
# fit beside a 256 KiB payload: it keeps its own item.
INLINE_RESULT_BYTES = 64 * 1024

# Placeholders for attribute names that are DynamoDB reserved words.
_NAMES = {"#status": "status", "#ttl": "ttl", "#result": "result", "#queue": "queue"}
# What a final write takes out of the task: both indexes and the sequential lock.
_FINAL_REMOVE = "REMOVE ready_queue, lock_key, sweep_shard, sweep_at"


def attribute_names(*expressions: str) -> dict[str, str]:
    return {k: v for k, v in _NAMES.items() if any(k in e for e in expressions)}


@dataclass(frozen=True)
class Completion:
    """The outcome of `complete_running`: applied (with the task as finished), or not (with the
    task as the failed condition found it; None when there is no such task)."""

    applied: bool
    task: Task | None

    @property
    def queue(self) -> str:
        return str(self.task.queue_level) if self.task is not None else ""


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
            "ExpressionAttributeNames": attribute_names(expression, condition),
            "ExpressionAttributeValues": expression_values(**values),
        }

    def finish(
        self,
        task: Task,
        status: Status,
        now: int,
        *,
        result_lease: str | None,
        result: dict[str, Any] | None = None,
    ) -> bool:
        """Moves a waiting or running task to a final status, taking it out of both indexes and
        releasing its sequential lock; `result` (at most INLINE_RESULT_BYTES) is stored with it,
        as the result of `result_lease`. False when the task changed meanwhile."""
        sets, values = _final_sets(status, now, result_lease, result)
        update = self._observed_update(task, f"SET {sets} {_FINAL_REMOVE}", values)
        return self._update_task(task, update, self._lock_release(task))

    def complete_running(
        self, task_id: str, lease_id: str, status: Status, result: dict[str, Any], now: int, scope: QueueScope
    ) -> Completion:
        """A worker's complete in one write: the final status and `result` (at most
        INLINE_RESULT_BYTES) on the task, applied only while it runs under `lease_id`, holds no
        sequential lock (its release needs a transaction) and is in one of the `scope`'s queues.
        The lease's end is not part of the condition: a complete under a lapsed lease that
        nothing has redelivered is accepted (docs/design.md)."""
        sets, values = _final_sets(status, now, lease_id, result)
        condition = "#status = :running AND lease_id = :lease AND attribute_not_exists(lock_key)"
        values |= {"running": Status.RUNNING.value, "lease": lease_id}
        if not scope.everything:
            names = {f"q{i}": name for i, name in enumerate(scope.names)}
            prefixes = {f"p{i}": prefix for i, prefix in enumerate(scope.prefixes)}
            covers = [f"#queue = :{k}" for k in names] + [f"begins_with(#queue, :{k})" for k in prefixes]
            condition += f" AND ({' OR '.join(covers)})"
            values |= names | prefixes
        expression = f"SET {sets} {_FINAL_REMOVE}"
        try:
            answer = self._db.update_item(
                TableName=self._tables.tasks,
                Key=task_key(task_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=attribute_names(expression, condition),
                ExpressionAttributeValues=expression_values(**values),
                # the task as finished, for the log's queue (UPDATED_NEW has no `queue`: the
                # write does not change it); the answer costs no capacity, only bytes
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if not is_condition_failure(e):
                raise
            found = e.response.get("Item")  # absent where the backend does not return it: read
            return Completion(False, item_to_task(found) if found else self.get_task(task_id))
        return Completion(True, item_to_task(answer["Attributes"]))

    def requeue(self, task: Task, visible_time: int) -> bool:
        """Gives a running task back: `waiting` again with its original `start_time` (its fifo
        place) in the ready shard it was put in, takeable from `visible_time`, its lock released."""
        update = self._observed_update(
            task,
            "SET #status = :waiting, ready_queue = :queue, visible_time = :visible, sweep_at = :expire REMOVE lock_key",
            {
                "waiting": Status.WAITING.value,
                "queue": ready_key(task.queue_level, task.shard),
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
            self._tables.tasks, SWEEP_INDEX, "sweep_shard", "sweep_at", SWEEP_SHARDS_READ, now, page_size
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

    def task_result(self, task_id: str, result_lease: str, task: Task | None = None) -> dict[str, Any] | None:
        """The result a final task holds under `result_lease`: the one on the task item (`task`
        as read, or one read of it), else the Results table's item: a large result, or a task
        finished before results moved onto the task item."""
        if task is None:
            item = self._db.get_item(
                TableName=self._tables.tasks,
                Key=task_key(task_id),
                ProjectionExpression="#result, result_lease",
                ExpressionAttributeNames={"#result": "result"},
                ConsistentRead=True,
            ).get("Item", {})
            if "result" in item and item.get("result_lease", {}).get("S") == result_lease:
                return json.loads(item["result"]["S"])
        elif task.result is not None and task.result_lease == result_lease:
            return task.result
        return self.get_result(task_id, result_lease)

    def get_result(self, task_id: str, lease_id: str) -> dict[str, Any] | None:
        """The Results table's item only; readers of a task's result use `task_result`."""
        item = self._db.get_item(
            TableName=self._tables.results, Key=result_key(task_id, lease_id), ConsistentRead=True
        ).get("Item")
        return None if item is None else json.loads(item["result"]["S"])


def _final_sets(
    status: Status, now: int, result_lease: str | None, result: dict[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """The SET clause (and its values) of a move to a final status, with its result inline."""
    sets = "#status = :final, completed_time = :now, #ttl = :ttl"
    values: dict[str, Any] = {"final": status.value, "now": now, "ttl": now // 1000 + retention_seconds()}
    if result_lease is not None:
        sets += ", result_lease = :result_lease"
        values["result_lease"] = result_lease
    if result is not None:
        sets += ", #result = :result"
        values["result"] = to_json(result)
    return sets, values
