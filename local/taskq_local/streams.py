"""A local stand-in for Lambda's DynamoDB Streams event source: reads the Tasks table's stream
(describe_stream, get_shard_iterator, get_records) and hands each shard's records to the real
dispatcher handler as a DynamoDB Streams event — in order, in batches, retrying from the first
record the handler reports failed, as the template's event source mapping does in AWS."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

logger = logging.getLogger("taskq_local")

Handler = Callable[[dict[str, Any], Any], Any]
# After this many failed tries of one batch the records are skipped and logged, as Lambda's
# MaximumRetryAttempts (with an on-failure destination) does.
MAX_RETRY_ATTEMPTS = 50
SHARD_REFRESH_SECONDS = 30


def to_lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A get_records record in the shape Lambda delivers it: epoch seconds for the creation
    time (boto3 parses it into a datetime) and the stream's ARN."""
    images = dict(record["dynamodb"])
    created = images.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        images["ApproximateCreationDateTime"] = int(created.timestamp())
    return {**record, "dynamodb": images, "eventSourceARN": stream_arn}


class StreamContext:
    """The attributes of a Lambda context the dispatcher and powertools read."""

    function_name = "taskq-local-DispatcherFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:taskq-local-DispatcherFunction"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/taskq-local-DispatcherFunction"
    log_stream_name = "local"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


@dataclass
class ShardReader:
    shard_id: str
    iterator: str | None
    pending: list[dict[str, Any]] = field(default_factory=list)  # read, not yet handled successfully
    tries: int = 0


class StreamFeed:
    def __init__(
        self,
        dynamodb: Any,
        streams: Any,
        table_name: str,
        handler: Handler,
        batch_size: int = 99,
        on_consumed: Callable[[str, str], None] | None = None,
        forget_iterator: Callable[[str], None] | None = None,
    ) -> None:
        self._dynamodb = dynamodb
        self._streams = streams
        self._table = table_name
        self._handler = handler
        self._batch_size = batch_size
        self._on_consumed = on_consumed  # (shard id, last sequence number handled)
        self._forget_iterator = forget_iterator or (lambda _arn: None)
        self._stream_arn: str | None = None
        self._shards: dict[str, ShardReader] = {}
        self._shards_read_at = 0.0
        self.disabled = False

    def poll(self) -> int:
        """Reads what is new on every shard and hands it over; returns how many records were
        handled successfully."""
        if self.disabled or not self._discover():
            return 0
        handled = 0
        for reader in list(self._shards.values()):
            if not reader.pending and reader.iterator is not None:
                used = reader.iterator
                answer = self._streams.get_records(ShardIterator=used, Limit=self._batch_size)
                self._forget_iterator(used)
                reader.pending = answer.get("Records", [])
                reader.iterator = answer.get("NextShardIterator")
            if reader.pending:
                handled += self._hand_over(reader)
            if reader.iterator is None and not reader.pending:
                del self._shards[reader.shard_id]  # a closed shard, read to its end
        return handled

    def _discover(self) -> bool:
        if self._stream_arn is None:
            table = self._dynamodb.describe_table(TableName=self._table)["Table"]
            self._stream_arn = table.get("LatestStreamArn")
            if self._stream_arn is None:
                logger.warning("table %s has no stream: callbacks and stats will not work", self._table)
                self.disabled = True
                return False
        if time.monotonic() - self._shards_read_at > SHARD_REFRESH_SECONDS or not self._shards:
            self._shards_read_at = time.monotonic()
            shards = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]["Shards"]
            for shard in shards:
                if shard["ShardId"] not in self._shards:
                    iterator = self._streams.get_shard_iterator(
                        StreamArn=self._stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                    )["ShardIterator"]
                    self._shards[shard["ShardId"]] = ShardReader(shard["ShardId"], iterator)
        return True

    def _hand_over(self, reader: ShardReader) -> int:
        batch = reader.pending[: self._batch_size]
        event = {"Records": [to_lambda_record(r, self._stream_arn or "") for r in batch]}
        try:
            answer = self._handler(event, StreamContext()) or {}
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        except Exception:
            logger.exception("the dispatcher failed on a batch of %d records; retrying it", len(batch))
            failed = {batch[0]["dynamodb"]["SequenceNumber"]}
        first_failed = next((i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed), None)
        done = len(batch) if first_failed is None else first_failed
        if done == 0:
            reader.tries += 1
            if reader.tries < MAX_RETRY_ATTEMPTS:
                return 0
            logger.error("skipping a stream record after %d tries: %s", reader.tries, batch[0]["eventID"])
            done = 1
        reader.tries = 0 if first_failed is None else reader.tries
        reader.pending = reader.pending[done:]
        if self._on_consumed is not None:
            self._on_consumed(reader.shard_id, batch[done - 1]["dynamodb"]["SequenceNumber"])
        return done
