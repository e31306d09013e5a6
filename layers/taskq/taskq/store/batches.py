"""Batches of the Batch API (Control table; docs/design.md "Batches"): the batch item, its two
listing items (the owner's, everyone's) and, while the runner has work on it, a run item in the
`BATCHRUN` partition. Every status change is conditional on the status it leaves; the fan-out
cursor moves only forward, conditional on where it stood."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..models import Task
from .base import StoreBase
from .codec import (
    expression_values,
    from_item,
    is_condition_failure,
    is_transaction_cancelled,
    item_to_task,
    task_attributes,
    to_item,
    to_json,
)
from .keys import (
    BATCH_RUNS_PARTITION,
    batch_key,
    batch_listing_keys,
    batch_run_key,
    batches_partition,
    index_attributes,
    task_key,
)
from .put_batch import MAX_TRANSACTION_BYTES, MAX_TRANSACTION_ITEMS


def _transactions(tasks: Sequence[Task]) -> list[list[Task]]:
    """`tasks` in order, cut where a transaction would pass DynamoDB's 100 items or 4 MB."""
    chunks: list[list[Task]] = [[]]
    size = 0
    for task in tasks:
        weight = len(to_json(task.data).encode()) + 1_000  # the data, and the task's other attributes
        if chunks[-1] and (len(chunks[-1]) == MAX_TRANSACTION_ITEMS or size + weight > MAX_TRANSACTION_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append(task)
        size += weight
    return [chunk for chunk in chunks if chunk]


if TYPE_CHECKING:  # the batch domain is imported by the calls that need it, not with the store
    from ..batches import Batch


def _attributes(batch: Batch) -> dict[str, Any]:
    values: dict[str, Any] = {
        "batch_id": batch.batch_id,
        "ak": batch.ak,
        "key_queues": list(batch.key_queues),
        "status": batch.status.value,
        "endpoint": batch.endpoint,
        "input_file_id": batch.input_file_id,
        "completion_window": batch.completion_window,
        "metadata": to_json(batch.metadata),
        "queue": batch.queue,
        "level": batch.level,
        "created_at": batch.created_at,
        "times": to_json(batch.times),
        "total": batch.total,
        "completed": batch.completed,
        "failed": batch.failed,
        "cursor": batch.cursor,
        "settled": batch.settled,
        "errors": to_json(batch.errors),
    }
    if batch.output_file_id:
        values["output_file_id"] = batch.output_file_id
    if batch.error_file_id:
        values["error_file_id"] = batch.error_file_id
    return values


def _to_batch(v: dict[str, Any]) -> Batch:
    from ..batches import Batch, BatchStatus

    return Batch(
        batch_id=v["batch_id"],
        ak=v["ak"],
        key_queues=tuple(v["key_queues"]),
        status=BatchStatus(v["status"]),
        endpoint=v["endpoint"],
        input_file_id=v["input_file_id"],
        completion_window=v["completion_window"],
        metadata=json.loads(v["metadata"]),
        queue=v["queue"],
        level=int(v["level"]),
        created_at=int(v["created_at"]),
        times={k: int(t) for k, t in json.loads(v["times"]).items()},
        total=int(v["total"]),
        completed=int(v["completed"]),
        failed=int(v["failed"]),
        cursor=int(v["cursor"]),
        settled=int(v.get("settled", 0)),
        errors=json.loads(v["errors"]),
        output_file_id=v.get("output_file_id"),
        error_file_id=v.get("error_file_id"),
    )


class BatchRecords(StoreBase):
    def put_batch(self, batch: Batch) -> None:
        """The batch, its listing items and its run item, in one transaction."""
        control = self._tables.control
        new = "attribute_not_exists(pk)"
        items = [batch_key(batch.batch_id) | to_item(_attributes(batch))]
        items += [key | to_item({"ak": batch.ak}) for key in batch_listing_keys(batch.ak, batch.batch_id)]
        items.append(batch_run_key(batch.batch_id))
        self._db.transact_write_items(
            TransactItems=[{"Put": {"TableName": control, "Item": item, "ConditionExpression": new}} for item in items]
        )

    def get_batch(self, batch_id: str) -> Batch | None:
        item = self._db.get_item(TableName=self._tables.control, Key=batch_key(batch_id), ConsistentRead=True)
        return None if "Item" not in item else _to_batch(from_item(item["Item"]))

    def list_batches(self, ak: str | None, after: str | None, limit: int) -> tuple[list[Batch], bool]:
        """One page of a key's batches (or everyone's, `ak` None), newest first, after the batch
        id `after`; and whether more follow. Ids sort by creation time."""
        partition = batches_partition(ak)
        request: dict[str, Any] = {
            "TableName": self._tables.control,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": partition}),
            "ProjectionExpression": "sk",
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if after:
            request["ExclusiveStartKey"] = to_item({"pk": partition, "sk": after})
        ids: list[str] = []
        while len(ids) <= limit:
            page = self._db.query(**request)
            ids += [from_item(item)["sk"] for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        has_more = len(ids) > limit
        ids = ids[:limit]
        control = self._tables.control
        items = self._batch_get_tables({control: ([batch_key(i) for i in ids], None)})[control]
        found = {batch.batch_id: batch for batch in (_to_batch(from_item(item)) for item in items)}
        return [found[i] for i in ids if i in found], has_more

    def move_batch(
        self, old: Batch, new: Batch, *, end_run: bool = False, start_run: bool = False, counts: bool = False
    ) -> bool:
        """Writes `new` (status, times, and what the runner set: queue, total, errors, files) if
        the batch is still in `old`'s status; in the same transaction, `end_run` deletes its run
        item and `start_run` puts it back (the runner has work again: a cancel). False when the
        status had changed. Never touches the cursor; the counts only with `counts` (the final
        ones, written by the runner under its lease)."""
        values = _attributes(new)
        fields = ["status", "times", "queue", "total", "errors", "output_file_id", "error_file_id"]
        if counts:
            fields += ["completed", "failed", "settled"]
        sets = [f"#{f} = :{f}" for f in fields if f in values]
        update = {
            "TableName": self._tables.control,
            "Key": batch_key(old.batch_id),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "#status = :old",
            "ExpressionAttributeNames": {f"#{f}": f for f in fields if f in values},
            "ExpressionAttributeValues": expression_values(old=old.status.value)
            | to_item({f":{f}": values[f] for f in fields if f in values}),
        }
        run_item: dict[str, Any] | None = None
        if end_run:
            run_item = {"Delete": {"TableName": self._tables.control, "Key": batch_run_key(old.batch_id)}}
        elif start_run:
            run_item = {"Put": {"TableName": self._tables.control, "Item": batch_run_key(old.batch_id)}}
        try:
            if run_item is None:
                self._db.update_item(**update)
            else:
                self._db.transact_write_items(TransactItems=[{"Update": update}, run_item])
        except ClientError as e:
            if is_condition_failure(e) or (run_item is not None and is_transaction_cancelled(e)):
                return False
            raise
        return True

    def _new_line_put(self, task: Task) -> dict[str, Any]:
        item = to_item(task_attributes(task) | index_attributes(task))
        return {"TableName": self._tables.tasks, "Item": item, "ConditionExpression": "attribute_not_exists(task_id)"}

    def take_run_lease(self, batch_id: str, owner: str, now: int, until: int) -> bool:
        """The batch's run lease for `owner` until `until` (ms): one runner at a time works on a
        batch, so a cancel never runs beside a fan-out still creating tasks. False while another
        runner's lease lasts."""
        return self._conditional_batch_update(
            batch_id,
            "SET run_owner = :owner, run_until = :until",
            "attribute_not_exists(run_until) OR run_until < :now OR run_owner = :owner",
            owner=owner,
            until=until,
            now=now,
        )

    def release_run_lease(self, batch_id: str, owner: str) -> None:
        self._conditional_batch_update(batch_id, "SET run_until = :zero", "run_owner = :owner", owner=owner, zero=0)

    def advance_cursor(self, batch_id: str, owner: str, previous: int, following: int) -> bool:
        """Moves the fan-out cursor from `previous` to `following` while the batch is
        `in_progress` under `owner`'s run lease; False otherwise (cancelled, or the lease was
        lost: this run stops)."""
        from ..batches import BatchStatus

        return self._conditional_batch_update(
            batch_id,
            "SET #cursor = :following",
            "#cursor = :previous AND run_owner = :owner AND #status = :running",
            names={"#cursor": "cursor", "#status": "status"},
            previous=previous,
            following=following,
            owner=owner,
            running=BatchStatus.IN_PROGRESS.value,
        )

    def settle_batch(self, batch_id: str, previous: int, settled: int, completed: int, failed: int) -> bool:
        """Moves the settled cursor (and the counts of the lines it passed) from `previous`."""
        return self._conditional_batch_update(
            batch_id,
            "SET settled = :settled, completed = :completed, failed = :failed",
            "settled = :previous",
            previous=previous,
            settled=settled,
            completed=completed,
            failed=failed,
        )

    def get_tasks(self, task_ids: list[str]) -> dict[str, Task]:
        """The tasks that exist among `task_ids`, read consistently, by id."""
        items = self._batch_get_tables({self._tables.tasks: ([task_key(i) for i in task_ids], None)}, consistent=True)
        return {task.task_id: task for task in map(item_to_task, items[self._tables.tasks])}

    def _conditional_batch_update(
        self, batch_id: str, update: str, condition: str, names: dict[str, str] | None = None, **values: Any
    ) -> bool:
        request: dict[str, Any] = {
            "TableName": self._tables.control,
            "Key": batch_key(batch_id),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": expression_values(**values),
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            self._db.update_item(**request)
        except ClientError as e:
            if is_condition_failure(e):
                return False
            raise
        return True

    def _new_line_put(self, task: Task) -> dict[str, Any]:
        item = to_item(task_attributes(task) | index_attributes(task))
        return {"TableName": self._tables.tasks, "Item": item, "ConditionExpression": "attribute_not_exists(task_id)"}

    def end_batch_run(self, batch_id: str) -> None:
        self._db.delete_item(TableName=self._tables.control, Key=batch_run_key(batch_id))

    def batch_runs(self) -> list[str]:
        """The batches the runner has work on (fan-out or cancelling not done), oldest first."""
        request: dict[str, Any] = {
            "TableName": self._tables.control,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": BATCH_RUNS_PARTITION}),
        }
        ids: list[str] = []
        while True:
            page = self._db.query(**request)
            ids += [from_item(item)["sk"] for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return ids
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def put_new_tasks(self, tasks: Sequence[Task]) -> None:
        """Batch lines' tasks, each unless a task with its (deterministic) id exists, in
        transactions of up to 100 (one request for many lines, each put keeping its condition:
        a re-sent unconditional put could undo a claim, see store/put_batch.py). A transaction
        is all or nothing, so when one of its tasks exists — a run resumed after a crash — its
        lines are put one by one instead, and what exists is left exactly as it is."""
        for chunk in _transactions(tasks):
            puts = [{"Put": self._new_line_put(task)} for task in chunk]
            try:
                self._db.transact_write_items(TransactItems=puts)
            except ClientError as e:
                if not is_transaction_cancelled(e):
                    raise
                for task in chunk:  # conditions that failed, or a conflict: each line on its own
                    self.put_new_task(task)

    def put_new_task(self, task: Task) -> bool:
        """A batch line's task, unless a task with its (deterministic) id exists: False then,
        and the existing task is left exactly as it is."""
        try:
            self._db.put_item(**self._new_line_put(task))
        except ClientError as e:
            if is_condition_failure(e):
                return False
            raise
        return True

    def _new_line_put(self, task: Task) -> dict[str, Any]:
        item = to_item(task_attributes(task) | index_attributes(task))
        return {"TableName": self._tables.tasks, "Item": item, "ConditionExpression": "attribute_not_exists(task_id)"}
