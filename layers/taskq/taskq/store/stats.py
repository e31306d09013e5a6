"""Per-queue-level counters (Control `STATS`) and the stream replay markers that keep them exact.

The dispatcher adds one stream batch's counts for every queue-level it touched in a single
transaction, together with the batch's marker (`STREAMBATCH#<first record's eventID>`, holding
the last sequence number counted). A replayed batch starts at a record that carries a marker,
so the dispatcher learns how far that shard was already counted and adds only the rest.

The same update rewrites the item's per-minute `series` (the console's chart, `taskq/series.py`):
read first, written under `series_version`, so a batch of another shard that wrote the item in
between makes the transaction fail on it, and the batch is read and applied again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from .. import series as minutes
from ..models import QueueLevel
from .base import StoreBase
from .codec import (
    cancellation_codes,
    expression_values,
    from_item,
    is_condition_failure,
    is_transaction_cancelled,
    to_item,
)
from .keys import stats_key, stream_marker_key

COUNTER_FIELDS = (
    "waiting",
    "running",
    "succeeded",
    "failed",
    "timeout",
    "cancelled",
    "total_put_cnt",
    "total_taken_cnt",
    "total_completed_cnt",
)
# Stream records live 24 h, so a batch can be replayed for at most that long.
MARKER_TTL_SECONDS = 2 * 86_400
CONFLICT_RETRIES = 5
# A series written by another shard's batch between our read and our write: read it again.
STALE_SERIES_RETRIES = 10


class StatsRecords(StoreBase):
    def add_counts(
        self,
        counts: Mapping[QueueLevel, Mapping[str, int]],
        *,
        marker: str,
        through: str,
        previous: str | None,
        now: int,
    ) -> bool:
        """Adds `counts` (and moves each queue-level's series on) and moves the marker to
        `through`, all or nothing. The marker must still be at `previous` (None: must not
        exist); False when it is not (those records were counted before: read
        `marker_position` and add only what lies beyond it)."""
        conflicts = stale = 0
        while True:
            current = self._stats_items(list(counts))
            items = [
                {"Update": self._counter_update(queue, deltas, current.get(queue, {}), now)}
                for queue, deltas in counts.items()
            ]
            items.append(self._marker_write(marker, through, previous, now))
            try:
                self._db.transact_write_items(TransactItems=items)
                return True
            except ClientError as e:
                if not is_transaction_cancelled(e):
                    raise
                codes = cancellation_codes(e)
                if codes and codes[-1] == "ConditionalCheckFailed":
                    return False
                if "ConditionalCheckFailed" in codes and stale < STALE_SERIES_RETRIES:
                    stale += 1  # a series moved since we read it
                    continue
                if "TransactionConflict" not in codes or conflicts == CONFLICT_RETRIES - 1:
                    raise
            time.sleep(0.02 * 2**conflicts)  # another shard's batch is updating the same counters
            conflicts += 1

    def _stats_items(self, queues: Sequence[QueueLevel]) -> dict[QueueLevel, dict[str, Any]]:
        """The STATS items of `queues` as they stand."""
        items = self._batch_get_tables({self._tables.control: ([stats_key(q) for q in queues], None)}, consistent=True)
        found = (from_item(item) for item in items[self._tables.control])
        return {QueueLevel(values["queue"], int(values["level"])): values for values in found}

    def _counter_update(
        self, queue: QueueLevel, deltas: Mapping[str, int], current: Mapping[str, Any], now: int
    ) -> dict[str, Any]:
        after = {field: int(current.get(field, 0)) + deltas.get(field, 0) for field in COUNTER_FIELDS}
        series = minutes.advance(_series(current), now, deltas, after)
        version = current.get("series_version")
        names = {"#queue": "queue", "#level": "level"}
        values: dict[str, Any] = {
            "queue": queue.name,
            "level": queue.level,
            "series": json.dumps([m.as_row() for m in series], separators=(",", ":")),
            "next_version": int(version or 0) + 1,
        }
        adds = []
        for i, (field, delta) in enumerate(sorted(deltas.items())):
            names[f"#c{i}"] = field
            values[f"c{i}"] = delta
            adds.append(f"#c{i} :c{i}")
        if version is None:
            condition = "attribute_not_exists(series_version)"
        else:
            condition, values["version"] = "series_version = :version", version
        return {
            "TableName": self._tables.control,
            "Key": stats_key(queue),
            "UpdateExpression": "SET #queue = :queue, #level = :level, series = :series, "
            f"series_version = :next_version ADD {', '.join(adds)}",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": expression_values(**values),
        }

    def _marker_write(self, marker: str, through: str, previous: str | None, now: int) -> dict[str, Any]:
        ttl = now // 1000 + MARKER_TTL_SECONDS
        if previous is None:
            return {
                "Put": {
                    "TableName": self._tables.control,
                    "Item": stream_marker_key(marker) | to_item({"through": through, "ttl": ttl}),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        return {
            "Update": {
                "TableName": self._tables.control,
                "Key": stream_marker_key(marker),
                "UpdateExpression": "SET through = :through, #ttl = :ttl",
                "ConditionExpression": "through = :previous",
                "ExpressionAttributeNames": {"#ttl": "ttl"},
                "ExpressionAttributeValues": expression_values(through=through, previous=previous, ttl=ttl),
            }
        }

    def set_marker(self, marker: str, through: str, now: int) -> None:
        """Marks `marker` as a record a replay may start at: everything up to `through` of its
        shard is counted. Written for the first record the dispatcher reports as failed.

        Never moves a marker back: a shorter retry batch knows less than the batch that first
        counted, and a lower mark would have the next retry count the rest again."""
        item = stream_marker_key(marker) | to_item({"through": through, "ttl": now // 1000 + MARKER_TTL_SECONDS})
        try:
            self._db.put_item(
                TableName=self._tables.control,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR through < :through",
                ExpressionAttributeValues=expression_values(through=through),
            )
        except ClientError as e:
            if not is_condition_failure(e):
                raise

    def marker_position(self, marker: str) -> str | None:
        item = self._db.get_item(
            TableName=self._tables.control, Key=stream_marker_key(marker), ConsistentRead=True
        ).get("Item")
        return None if item is None else item["through"]["S"]

    def queue_stats(self, queue: QueueLevel) -> dict[str, int]:
        item = self._db.get_item(TableName=self._tables.control, Key=stats_key(queue), ConsistentRead=True).get("Item")
        return _counters(from_item(item) if item else {})

    def all_queue_stats(self) -> list[tuple[QueueLevel, dict[str, int]]]:
        return [(queue, counters) for queue, counters, _ in self.queue_overview()]

    def queue_series(self, queue: QueueLevel) -> list[minutes.Minute]:
        item = self._db.get_item(TableName=self._tables.control, Key=stats_key(queue), ConsistentRead=True).get("Item")
        return _series(from_item(item)) if item else []

    def queue_overview(self) -> list[tuple[QueueLevel, dict[str, int], list[minutes.Minute]]]:
        """Every queue-level's counters and per-minute series, in queue order (one Query)."""
        request: dict[str, Any] = {
            "TableName": self._tables.control,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": expression_values(pk="STATS"),
        }
        found = []
        while True:
            page = self._db.query(**request)
            for values in map(from_item, page.get("Items", [])):
                queue = QueueLevel(values["queue"], int(values["level"]))
                found.append((queue, _counters(values), _series(values)))
            if "LastEvaluatedKey" not in page:
                return sorted(found, key=lambda pair: pair[0])
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _series(values: Mapping[str, Any]) -> list[minutes.Minute]:
    return minutes.from_rows(json.loads(values["series"])) if "series" in values else []


def _counters(values: Mapping[str, Any]) -> dict[str, int]:
    return {field: int(values.get(field, 0)) for field in COUNTER_FIELDS}
