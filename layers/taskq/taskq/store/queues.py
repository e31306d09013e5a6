"""Queue registrations and round-robin cursors (Control table)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from botocore.exceptions import ClientError

from ..errors import Conflict
from ..models import QueueLevel
from .base import StoreBase
from .codec import expression_values, from_item, is_condition_failure, to_item
from .keys import cursor_key, queue_key


class QueueRecords(StoreBase):
    def register_queue(self, name: str, endpoint: str, now: int) -> None:
        """Creates the registration, or accepts a repeat with the same endpoint; else Conflict."""
        try:
            self._db.put_item(
                TableName=self._tables.control,
                Item=queue_key(name) | to_item({"endpoint": endpoint, "created_time": now}),
                ConditionExpression="attribute_not_exists(pk) OR endpoint = :endpoint",
                ExpressionAttributeValues=expression_values(endpoint=endpoint),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if not is_condition_failure(e):
                raise
            existing = from_item(e.response.get("Item", {})).get("endpoint", "another endpoint")
            raise Conflict(f"queue: {name!r} is already registered with endpoint {existing!r}") from e

    def queue_endpoints(self, names: Iterable[str]) -> dict[str, str]:
        """The registered endpoint of each name that is registered."""
        keys = [queue_key(n) for n in dict.fromkeys(names)]
        found: dict[str, str] = {}
        for item in self._batch_get(self._tables.control, keys, projection="pk, endpoint"):
            v = from_item(item)
            found[v["pk"].removeprefix("QUEUE#")] = v["endpoint"]
        return found

    def get_cursor(self, queues: Sequence[QueueLevel]) -> int:
        item = self._db.get_item(TableName=self._tables.control, Key=cursor_key(queues)).get("Item")
        return 0 if item is None else int(item["next"]["N"])

    def set_cursor(self, queues: Sequence[QueueLevel], value: int) -> None:
        self._db.put_item(TableName=self._tables.control, Item=cursor_key(queues) | to_item({"next": value}))
