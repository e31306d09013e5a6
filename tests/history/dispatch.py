"""The dispatcher side of a run: the Tasks stream read the way Lambda's event source mapping
hands it over (batches of varying length, a retry from the batch's first record after a
function error or from the first reported record, never ending before the attempt it repeats),
and a recording receiver for callbacks."""

from __future__ import annotations

import random
from typing import Any

from taskq.callbacks import Attempt
from taskq.clock import ManualClock
from taskq_dispatcher.stream import handle_batch
from taskq_local.background import streams_client
from taskq_local.streams import to_lambda_record
from tests.history.model import History, Post
from tests.history.scheduler import Scheduler


class StreamTap:
    """Reads every new record of the Tasks stream. The shard iterator is fetched afresh on each
    read: moto swaps a table for a copy when it cancels a transaction, and an old iterator
    would keep reading the abandoned shard (defect 9 of issue 10, a local-server matter)."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._streams = streams_client(None, "us-east-1")
        self.arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self._after: dict[str, str] = {}

    def read(self) -> list[dict[str, Any]]:
        records = []
        for shard in self._streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            where: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
            if shard_id in self._after:
                where = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self._after[shard_id]}
            iterator = self._streams.get_shard_iterator(StreamArn=self.arn, ShardId=shard_id, **where)["ShardIterator"]
            while iterator:
                answer = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                if not answer["Records"]:
                    break
                records += [to_lambda_record(r, self.arn) for r in answer["Records"]]
                self._after[shard_id] = answer["Records"][-1]["dynamodb"]["SequenceNumber"]
                iterator = answer.get("NextShardIterator")
        return records


class StreamFeed:
    """One shard's records handed to the stream handler, as the event source mapping would."""

    def __init__(self, tap: StreamTap, history: History, rng: random.Random) -> None:
        self._tap = tap
        self._history = history
        self._rng = rng
        self.pending: list[dict[str, Any]] = []
        self.function_errors = 0
        # A retry never ends before the attempt it repeats: Lambda re-reads from the batch's
        # first record (or the first one reported failed) up to its batch size, and the local
        # server resends what it read. The counters' replay markers rely on it (design.md).
        self._retry_length = 0

    def step(self) -> bool:
        """One invocation; False when there was nothing to hand over."""
        new = self._tap.read()
        self._history.stream_records += new
        self.pending += new
        if not self.pending:
            return False
        batch = self.pending[: max(self._rng.randint(1, 8), self._retry_length)]
        span = f"{batch[0]['dynamodb']['SequenceNumber'][-4:]}..{batch[-1]['dynamodb']['SequenceNumber'][-4:]}"
        try:
            response = handle_batch({"Records": batch}, None)
        except Exception as error:  # a function error: Lambda retries from the batch's first record
            self.function_errors += 1
            self._retry_length = len(batch)
            self._history.batches.append(f"{span}: function error {type(error).__name__}")
            return True
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        first = next((i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed), len(batch))
        self._history.batches.append(f"{span}: " + (f"retry from record {first}" if first < len(batch) else "done"))
        self.pending = self.pending[first:]
        self._retry_length = len(batch) - first
        return True


class Receiver:
    """The callback receiver: answers 2xx three times in four, sometimes slowly (the clock moves
    and others run while it answers, so the attempt's claim may lapse meanwhile). The sender
    gives up after its 10 s deadline: a slower answer is a failed attempt. Records every POST."""

    DEADLINE_MS = 10_000

    def __init__(self, seed: int, scheduler: Scheduler, clock: ManualClock, history: History) -> None:
        self._rng = random.Random(f"receiver-{seed}")
        self._scheduler = scheduler
        self._clock = clock
        self._history = history

    def post(self, url: str, body: bytes, headers: Any) -> Attempt:
        sent = self._clock.now_ms()
        if self._rng.random() < 0.3:
            self._scheduler.point(jump_s=self._rng.choice((3, 9, 20)))
        draw = self._rng.random()
        attempt = Attempt(True, 200) if draw < 0.75 else Attempt(False, 503, "HTTP 503")
        if draw > 0.9:
            attempt = Attempt(False, None, "connection refused")
        now = self._clock.now_ms()
        if now - sent > self.DEADLINE_MS:
            attempt = Attempt(False, None, "timed out")
        task_id = headers["X-Task-Id"]
        self._history.posts.append(Post(task_id, headers["X-Task-Status"], attempt.ok, now))
        self._history.log(task_id, now, "receiver", f"POST {headers['X-Task-Status']} -> {attempt}")
        return attempt


class SettleLog:
    """The dispatcher's telemetry, keeping which tasks had an attempt that did not settle (its
    POST may have succeeded: the retry job sends it again, which is allowed)."""

    def __init__(self, history: History) -> None:
        self._history = history

    def count(self, metric: str, value: int = 1) -> None:
        pass

    def log(self, message: str, **fields: Any) -> None:
        if message == "callback attempt failed to settle":
            self._history.unsettled.add(fields["task_id"])
