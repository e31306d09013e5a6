"""The Tasks table's stream as the dispatcher sees it: records read from moto's stream (for
operations the test performed through the handler), wrapped as Lambda's DynamoDB Streams
event, and the dispatcher's real entry points wired to the test's store, clock and a fake
receiver."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from apigw import LambdaContextStub

from taskq.callbacks import Attempt
from taskq.clearing import QueueClearer
from taskq.clock import ManualClock
from taskq.delivery import CallbackDispatcher, RetryPolicy
from taskq.store import DynamoStore
from taskq_dispatcher import scheduled, stream, wiring
from taskq_local.background import streams_client
from taskq_local.streams import to_lambda_record


class StreamReader:
    """Reads the Tasks stream from where it last stopped (one shard in moto)."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._streams = streams_client(None, "us-east-1")
        self.arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        [shard] = self._streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        self._iterator = self._streams.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def new_records(self) -> list[dict[str, Any]]:
        answer = self._streams.get_records(ShardIterator=self._iterator, Limit=1000)
        self._iterator = answer["NextShardIterator"]
        return [to_lambda_record(r, self.arn) for r in answer["Records"]]


def event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}


@dataclass
class FakeReceiver:
    """Answers each POST with the next of `answers` (then 200 for ever); remembers each POST."""

    answers: list[int | str] = field(default_factory=list)
    posts: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    oks: list[bool] = field(default_factory=list)  # per POST: answered 2xx

    def post(self, url: str, body: bytes, headers: Any) -> Attempt:
        self.posts.append((url, body, dict(headers)))
        answer = self.answers.pop(0) if self.answers else 200
        self.oks.append(not isinstance(answer, str) and 200 <= answer <= 299)
        if isinstance(answer, str):
            return Attempt(False, None, answer)
        return Attempt(200 <= answer <= 299, answer, "" if 200 <= answer <= 299 else f"HTTP {answer}")

    def task_ids(self) -> list[str]:
        return [headers["X-Task-Id"] for _, _, headers in self.posts]

    def delivered_task_ids(self) -> list[str]:
        """The task of every POST answered 2xx: a successful delivery."""
        return [headers["X-Task-Id"] for (_, _, headers), ok in zip(self.posts, self.oks, strict=True) if ok]


@dataclass
class Dispatcher:
    """Drives the dispatcher's entry points the way Lambda would."""

    reader: StreamReader
    receiver: FakeReceiver
    clock: ManualClock

    def run_stream(self, records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Hands the new stream records (or `records`) to the stream handler."""
        batch = self.reader.new_records() if records is None else records
        return stream.lambda_handler(event(batch), LambdaContextStub())

    def run_scheduled(self) -> dict[str, Any]:
        return scheduled.lambda_handler({}, LambdaContextStub())


def wire(store: DynamoStore, clock: ManualClock, receiver: FakeReceiver, policy: RetryPolicy) -> Iterator[None]:
    """Puts the test's store, clock and receiver behind the entry points until resumed."""
    dispatcher = CallbackDispatcher(store, clock, receiver, policy, workers=1)
    wiring.use(wiring.Wiring(store, clock, dispatcher, QueueClearer(store, clock)))
    yield
    wiring.use(None)
