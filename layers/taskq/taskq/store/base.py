"""What every part of the store shares: the client, the table names and the transaction that
moves a task while releasing (or extending) its sequential lock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from ..config import TableNames
from ..models import Task
from .codec import (
    TRANSIENT_CANCELLATIONS,
    cancellation_codes,
    expression_values,
    is_condition_failure,
    is_transaction_cancelled,
)
from .keys import lock_key

# Tries of a task+lock transaction cancelled by contention or throttling (about 0.3 s in all).
TRANSACTION_ATTEMPTS = 5


class StoreBase:
    def __init__(self, client: Any, tables: TableNames) -> None:
        self._db = client
        self._tables = tables

    def _update_task(
        self, task: Task, update: dict[str, Any], lock_change: dict[str, Any] | None, *, lock_required: bool = False
    ) -> bool:
        """Applies a conditional update to the task; False when its condition failed.

        When the task holds its queue's sequential lock, `lock_change` (a transaction item on
        the lock, conditional on this task still holding it) is applied in the same
        transaction, so the two can never disagree after a crash. Only when the cancellation
        shows that the lock's condition failed and the task's did not (the lock lapsed with the
        lease and another task took it) is the update applied alone, and never with
        `lock_required` (extending a lease: without the lock it must not live on). Contention
        and throttling cancel a transaction without deciding anything: it is tried again.
        """
        if task.holds_lock and lock_change is not None:
            for attempt in range(TRANSACTION_ATTEMPTS):
                try:
                    self._db.transact_write_items(TransactItems=[{"Update": update}, lock_change])
                    return True
                except ClientError as e:
                    if not is_transaction_cancelled(e):
                        raise
                    task_code, lock_code = [*cancellation_codes(e), "", ""][:2]
                    if task_code == "ConditionalCheckFailed":
                        return False
                    if lock_code == "ConditionalCheckFailed" and task_code == "None":
                        if lock_required:
                            return False
                        break
                    retryable = {task_code, lock_code} & TRANSIENT_CANCELLATIONS
                    if not retryable or attempt == TRANSACTION_ATTEMPTS - 1:
                        raise
                time.sleep(0.02 * 2**attempt)
        try:
            self._db.update_item(**update)
        except ClientError as e:
            if is_condition_failure(e):
                return False
            raise
        return True

    def _lock_release(self, task: Task) -> dict[str, Any]:
        return {
            "Delete": {
                "TableName": self._tables.control,
                "Key": lock_key(task.queue_level),
                "ConditionExpression": "task_id = :task_id",
                "ExpressionAttributeValues": expression_values(task_id=task.task_id),
            }
        }

    def _lock_extension(self, task: Task, until: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._tables.control,
                "Key": lock_key(task.queue_level),
                "UpdateExpression": "SET expires_at = :until",
                "ConditionExpression": "task_id = :task_id",
                "ExpressionAttributeValues": expression_values(task_id=task.task_id, until=until),
            }
        }

    def _due_items(
        self, table: str, index: str, shard_attribute: str, due_attribute: str, shards: int, now: int, page_size: int
    ) -> Iterator[dict[str, Any]]:
        """The items of a sharded, sparse "due" index whose time has come: each shard's partition
        read up to `now`, page by page, so the cost follows the number of due items."""
        for shard in range(shards):
            request: dict[str, Any] = {
                "TableName": table,
                "IndexName": index,
                "KeyConditionExpression": f"{shard_attribute} = :shard AND {due_attribute} <= :now",
                "ExpressionAttributeValues": expression_values(shard=str(shard), now=now),
                "Limit": page_size,
            }
            while True:
                page = self._db.query(**request)
                yield from page.get("Items", [])
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _batch_get(
        self,
        table: str,
        keys: list[dict[str, Any]],
        *,
        projection: str,
        consistent: bool = False,
        names: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        return self._batch_get_tables({table: (keys, projection)}, consistent=consistent, names=names)[table]

    def _batch_get_tables(
        self,
        reads: dict[str, tuple[list[dict[str, Any]], str | None]],
        *,
        consistent: bool = False,
        names: dict[str, str] | None = None,
    ) -> dict[str, list[dict[str, Any]]]:
        """The items of `reads` (per table: its keys and projection, None for whole items), in
        as few BatchGetItem requests as the 100-key limit allows, unprocessed keys asked again.
        `names`: the projections' `#placeholders` (for attribute names DynamoDB reserves)."""
        items: dict[str, list[dict[str, Any]]] = {table: [] for table in reads}
        flat = [(table, key) for table, (keys, _) in reads.items() for key in keys]
        for start in range(0, len(flat), 100):
            pending: dict[str, Any] = {}
            for table, key in flat[start : start + 100]:
                request = pending.setdefault(table, {"Keys": [], "ConsistentRead": consistent})
                if (projection := reads[table][1]) is not None:
                    request["ProjectionExpression"] = projection
                    if names:
                        request["ExpressionAttributeNames"] = names
                request["Keys"].append(key)
            for attempt in range(8):
                answer = self._db.batch_get_item(RequestItems=pending)
                for table, found in answer.get("Responses", {}).items():
                    items[table] += found
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.01 * 2**attempt)  # throttled: back off before asking for the rest
            else:
                raise RuntimeError(f"BatchGetItem on {', '.join(reads)} left keys unprocessed after retries")
        return items
