"""The naive baseline: the pattern of AWS's priority-queue sample, in bench/ only.

Take: query the head of the ready index (`Limit=1`), claim that one item with a conditional
update, and on `ConditionalCheckFailed` query the head again and retry. A take of `size` tasks
repeats that `size` times. It shares our Tasks table and ReadyByQueue index, so both sides
read and write the same items; only the access pattern differs.
"""

from __future__ import annotations

import secrets
from typing import Any

from botocore.exceptions import ClientError

from taskq.store.codec import expression_values, from_item
from taskq.store.keys import READY_INDEX, task_key

LEASE_MS = 600_000


class NaiveQueue:
    def __init__(self, client: Any, tasks_table: str) -> None:
        self._db = client
        self._table = tasks_table

    def put(self, item: dict[str, Any]) -> None:
        self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(task_id)")

    def take(self, queue: str, size: int, now: int) -> list[dict[str, Any]]:
        taken = []
        for _ in range(size):
            task = self.take_one(queue, now)
            if task is None:
                break
            taken.append(task)
        return taken

    def take_one(self, queue: str, now: int) -> dict[str, Any] | None:
        while True:
            head = self._db.query(
                TableName=self._table,
                IndexName=READY_INDEX,
                KeyConditionExpression="ready_queue = :queue",
                ExpressionAttributeValues=expression_values(queue=queue),
                ProjectionExpression="task_id",
                Limit=1,
            ).get("Items", [])
            if not head:
                return None
            try:
                return self._claim(head[0]["task_id"]["S"], now)
            except ClientError as e:
                if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                # Someone else claimed the head first: read the head again and retry.

    def _claim(self, task_id: str, now: int) -> dict[str, Any]:
        answer = self._db.update_item(
            TableName=self._table,
            Key=task_key(task_id),
            UpdateExpression="SET #status = :running, lease_id = :lease, lease_expire_time = :until REMOVE ready_queue",
            ConditionExpression="#status = :waiting",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=expression_values(
                running="running", waiting="waiting", lease=f"LEASE-{secrets.token_hex(16)}", until=now + LEASE_MS
            ),
            ReturnValues="ALL_NEW",
        )
        return from_item(answer["Attributes"])

    def complete(self, task_id: str, lease_id: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=task_key(task_id),
            UpdateExpression="SET #status = :succeeded REMOVE sweep_shard, sweep_at",
            ConditionExpression="#status = :running AND lease_id = :lease",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=expression_values(running="running", succeeded="succeeded", lease=lease_id),
        )
