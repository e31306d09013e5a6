"""Callback deliveries (Control `CALLBACK#<task_id>`) and dead letters (Control `DEADLETTER`).

One delivery record per task, created once (a replayed stream record finds it and sends
nothing). Every attempt first claims the record with a conditional write, so two consumers
never send the same result at once; a claim that is never settled (a crash mid-attempt) ends
at its `due_at` and the retry job takes the delivery up again.

Settling keeps the attempt's `claim_id`: the same settle sent again (botocore retrying a write
whose answer was lost) applies again, unchanged, and still reports success; only a settle
whose claim was taken over by a later attempt fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..config import retention_seconds
from .base import StoreBase
from .codec import expression_values, from_item, is_condition_failure, is_transaction_cancelled, to_item
from .keys import CALLBACK_INDEX, CALLBACK_SHARDS, callback_shard, dead_letter_key, delivery_key

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True)
class Delivery:
    """A task's result on its way to the task's callback_url."""

    task_id: str
    queue: str
    level: int
    url: str
    task_status: str
    result_lease: str
    attempts: int = 0  # attempts made before the current one
    # The result's JSON text when the stream record that finished the task carried it (a result
    # stored on the task): the first attempt then reads nothing. Never stored in the record.
    result_text: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Failure:
    attempts: int
    http_status: int | None
    error: str


class DeliveryRecords(StoreBase):
    def start_delivery(self, delivery: Delivery, now: int, claim_id: str, claim_until: int) -> bool:
        """Creates the task's delivery record, claimed for its first attempt. False when it
        exists already: the stream record was replayed, or another consumer has it."""
        values = {
            "task_id": delivery.task_id,
            "queue": delivery.queue,
            "level": delivery.level,
            "url": delivery.url,
            "task_status": delivery.task_status,
            "result_lease": delivery.result_lease,
            "state": PENDING,
            "attempts": 0,
            "claim_id": claim_id,
            "due_shard": callback_shard(delivery.task_id),
            "due_at": claim_until,
            "created_time": now,
            "ttl": now // 1000 + retention_seconds(),
        }
        try:
            self._db.put_item(
                TableName=self._tables.control,
                Item=delivery_key(delivery.task_id) | to_item(values),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as e:
            if is_condition_failure(e):
                return False
            raise
        return True

    def due_delivery_ids(self, now: int, page_size: int = 100) -> Iterator[str]:
        """Pending deliveries whose next attempt (or abandoned claim) is due, from the sparse index."""
        items = self._due_items(
            self._tables.control, CALLBACK_INDEX, "due_shard", "due_at", CALLBACK_SHARDS, now, page_size
        )
        yield from (item["pk"]["S"].removeprefix("CALLBACK#") for item in items)

    def claim_delivery(self, task_id: str, now: int, claim_id: str, claim_until: int) -> Delivery | None:
        """Claims a due pending delivery for one attempt; None when it is not due (any more)."""
        try:
            item = self._db.update_item(
                TableName=self._tables.control,
                Key=delivery_key(task_id),
                UpdateExpression="SET claim_id = :claim, due_at = :until",
                ConditionExpression="#state = :pending AND due_at <= :now",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=expression_values(
                    claim=claim_id, until=claim_until, pending=PENDING, now=now
                ),
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as e:
            if is_condition_failure(e):
                return None
            raise
        v = from_item(item)
        return Delivery(
            v["task_id"], v["queue"], int(v["level"]), v["url"], v["task_status"], v["result_lease"], int(v["attempts"])
        )

    def renew_delivery_claim(self, task_id: str, claim_id: str, now: int, claim_until: int) -> bool:
        """Extends a live claim to `claim_until`, just before its attempt; False when the claim
        lapsed (or was settled or taken over): the attempt must not be made."""
        try:
            self._db.update_item(
                TableName=self._tables.control,
                Key=delivery_key(task_id),
                UpdateExpression="SET due_at = :until",
                ConditionExpression="#state = :pending AND claim_id = :claim AND due_at > :now",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=expression_values(
                    claim=claim_id, until=claim_until, pending=PENDING, now=now
                ),
            )
        except ClientError as e:
            if is_condition_failure(e):
                return False
            raise
        return True

    def record_delivered(self, task_id: str, claim_id: str, attempts: int, http_status: int, now: int) -> bool:
        return self._settle(
            task_id,
            claim_id,
            "SET #state = :delivered, attempts = :attempts, last_status = :status, delivered_time = :now "
            "REMOVE due_shard, due_at",
            {"delivered": DELIVERED, "attempts": attempts, "status": http_status, "now": now},
        )

    def record_retry(self, task_id: str, claim_id: str, failure: Failure, due_at: int) -> bool:
        """Settles a failed attempt; the delivery is due again at `due_at`."""
        return self._settle(
            task_id,
            claim_id,
            "SET attempts = :attempts, last_status = :status, last_error = :error, due_at = :due",
            {"attempts": failure.attempts, "status": failure.http_status, "error": failure.error, "due": due_at},
        )

    def record_dead(self, delivery: Delivery, claim_id: str, failure: Failure, now: int) -> bool:
        """Gives the delivery up and files its dead letter, in one transaction."""
        update = self._settle_update(
            delivery.task_id,
            claim_id,
            "SET #state = :dead, attempts = :attempts, last_status = :status, last_error = :error, "
            "failed_time = :now REMOVE due_shard, due_at",
            {
                "dead": DEAD,
                "attempts": failure.attempts,
                "status": failure.http_status,
                "error": failure.error,
                "now": now,
            },
        )
        letter = {
            "task_id": delivery.task_id,
            "queue": delivery.queue,
            "level": delivery.level,
            "callback_url": delivery.url,
            "task_status": delivery.task_status,
            "last_status": failure.http_status,
            "last_error": failure.error,
            "attempts": failure.attempts,
            "failed_time": now,
            "ttl": now // 1000 + retention_seconds(),
        }
        put = {"TableName": self._tables.control, "Item": dead_letter_key(now, delivery.task_id) | to_item(letter)}
        try:
            self._db.transact_write_items(TransactItems=[{"Update": update}, {"Put": put}])
        except ClientError as e:
            if is_transaction_cancelled(e):
                return False  # our claim was taken over: the other attempt decides
            raise
        return True

    def dead_letters(self, limit: int) -> list[dict[str, Any]]:
        """The newest dead letters first."""
        page = self._db.query(
            TableName=self._tables.control,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=expression_values(pk="DEADLETTER"),
            ScanIndexForward=False,
            Limit=limit,
        )
        letters = []
        for v in map(from_item, page.get("Items", [])):
            status = v.get("last_status")
            letters.append(
                {
                    "task_id": v["task_id"],
                    "queue": v["queue"],
                    "level": int(v["level"]),
                    "callback_url": v["callback_url"],
                    "task_status": v["task_status"],
                    "last_status": None if status is None else int(status),
                    "last_error": v.get("last_error", ""),
                    "attempts": int(v["attempts"]),
                    "failed_time": int(v["failed_time"]),
                }
            )
        return letters

    def delivery_state(self, task_id: str) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self._tables.control, Key=delivery_key(task_id), ConsistentRead=True).get(
            "Item"
        )
        return None if item is None else from_item(item)

    def _settle_update(self, task_id: str, claim_id: str, expression: str, values: dict[str, Any]) -> dict[str, Any]:
        update = {
            "TableName": self._tables.control,
            "Key": delivery_key(task_id),
            "UpdateExpression": expression,
            "ConditionExpression": "claim_id = :claim",
            "ExpressionAttributeValues": expression_values(claim=claim_id, **values),
        }
        if "#state" in expression:
            update["ExpressionAttributeNames"] = {"#state": "state"}
        return update

    def _settle(self, task_id: str, claim_id: str, expression: str, values: dict[str, Any]) -> bool:
        try:
            self._db.update_item(**self._settle_update(task_id, claim_id, expression, values))
        except ClientError as e:
            if is_condition_failure(e):
                return False
            raise
        return True
