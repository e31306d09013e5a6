"""Queue registrations and round-robin cursors (Control table)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from botocore.exceptions import ClientError

from ..errors import Conflict, QueueNotFound
from ..models import QueueLevel, Registration
from .base import StoreBase
from .codec import expression_values, from_item, is_condition_failure, to_item
from .keys import cursor_key, queue_key, shards_attribute

SHARD_PREFIX = shards_attribute(0).removesuffix("0")


def registration_of(item: dict[str, object]) -> Registration:
    v = from_item(item)
    shards = {int(k.removeprefix(SHARD_PREFIX)): int(n) for k, n in v.items() if k.startswith(SHARD_PREFIX)}
    return Registration(v["pk"].removeprefix("QUEUE#"), v["endpoint"], shards)


class QueueRecords(StoreBase):
    def register_queue(self, name: str, endpoint: str, now: int) -> Registration:
        """Creates the registration, or accepts a repeat with the same endpoint; else Conflict.
        An update, not a put: a repeat must keep the shard counts raised since (a put would
        replace the item and drop them, hiding the tasks of every shard above 0)."""
        try:
            answer = self._db.update_item(
                TableName=self._tables.control,
                Key=queue_key(name),
                UpdateExpression="SET endpoint = :endpoint, created_time = if_not_exists(created_time, :now)",
                ConditionExpression="attribute_not_exists(pk) OR endpoint = :endpoint",
                ExpressionAttributeValues=expression_values(endpoint=endpoint, now=now),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if not is_condition_failure(e):
                raise
            existing = from_item(e.response.get("Item", {})).get("endpoint", "another endpoint")
            raise Conflict(f"queue: {name!r} is already registered with endpoint {existing!r}") from e
        return registration_of(answer["Attributes"])

    def queue_endpoints(self, names: Iterable[str]) -> dict[str, str]:
        """The registered endpoint of each name that is registered."""
        return {name: r.endpoint for name, r in self.queue_registrations(names).items()}

    def queue_registrations(self, names: Iterable[str]) -> dict[str, Registration]:
        """The registration of each name that is registered (one BatchGetItem, the whole item:
        it is small, and its shard counts are one attribute per raised level)."""
        keys = [queue_key(n) for n in dict.fromkeys(names)]
        items = self._batch_get_tables({self._tables.control: (keys, None)})[self._tables.control]
        found = map(registration_of, items)
        return {r.queue: r for r in found}

    def queue_shards(self, queue: QueueLevel) -> int:
        """The ready shard count of a queue-level, read strongly consistent: a clear must see
        every raise that has answered (docs/design.md "Sharded queue heads")."""
        item = self._db.get_item(
            TableName=self._tables.control,
            Key=queue_key(queue.name),
            ProjectionExpression="#shards",
            ExpressionAttributeNames={"#shards": shards_attribute(queue.level)},
            ConsistentRead=True,
        ).get("Item", {})
        return int(item[shards_attribute(queue.level)]["N"]) if item else 1

    def raise_shards(self, queue: QueueLevel, shards: int) -> Registration:
        """Sets the queue-level's ready shard count to `shards`, which may only grow: takes that
        have not seen a raise yet still read every shard a task may wait in but the new ones,
        while a lower count would hide the tasks of the shards it drops. A repeat is accepted."""
        try:
            answer = self._db.update_item(
                TableName=self._tables.control,
                Key=queue_key(queue.name),
                UpdateExpression="SET #shards = :shards",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#shards) OR #shards <= :shards)",
                ExpressionAttributeNames={"#shards": shards_attribute(queue.level)},
                ExpressionAttributeValues=expression_values(shards=shards),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if not is_condition_failure(e):
                raise
            found = e.response.get("Item")
            if found is None:  # no registration, or a backend that does not return the image
                found = self._db.get_item(TableName=self._tables.control, Key=queue_key(queue.name)).get("Item")
            if found is None:
                raise QueueNotFound(queue.name) from e
            current = registration_of(found).shards_of(queue.level)
            if current <= shards:  # raised to `shards` meanwhile by a concurrent call: the same answer
                return registration_of(found)
            raise Conflict(f"shards: {queue} has {current} shards; the count can only be raised") from e
        return registration_of(answer["Attributes"])

    def get_cursor(self, queues: Sequence[QueueLevel]) -> int:
        item = self._db.get_item(TableName=self._tables.control, Key=cursor_key(queues)).get("Item")
        return 0 if item is None else int(item["next"]["N"])

    def set_cursor(self, queues: Sequence[QueueLevel], value: int) -> None:
        self._db.put_item(TableName=self._tables.control, Item=cursor_key(queues) | to_item({"next": value}))
