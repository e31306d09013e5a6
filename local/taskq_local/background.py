"""The local server's background work, as AWS runs it beside the API: the sweeper (every
TASKQ_SWEEP_INTERVAL s), the dispatcher fed from the Tasks stream, the dispatcher's
scheduled jobs (callback retries, queue clears) and the batch function's runs. Each runs the
same code as its function."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

STREAM_POLL_SECONDS = 0.1  # callbacks and counters follow a change within a fraction of a second
SCHEDULED_JOBS_SECONDS = 0.25  # finer than the 1 s local callback backoff
BATCH_RUNS_SECONDS = 0.5  # a new batch starts validating within this; a batch settles as often
BATCH_RUN_MS = 5_000  # one run's budget (a Lambda's is its time-out less a margin)
PUT_DELAY_VARIABLE = "TASKQ_TEST_OBJECT_PUT_DELAY"  # tests only: see _DelayedPuts


def sweep() -> None:
    _sweeper().sweep()


@cache
def _sweeper() -> Any:
    from taskq.clock import SystemClock
    from taskq.store import store_from_env
    from taskq.sweeper import Sweeper

    return Sweeper(store_from_env(), SystemClock())


def batch_runs() -> None:
    """What the batch function does in AWS (started by the API, and every minute): locally the
    API starts nothing (no BATCH_FUNCTION), and this job finds new work within BATCH_RUNS_SECONDS.
    Each run is bounded, so a large fan-out gives way to the next batch and continues."""
    from taskq.batch_runner import run_event
    from taskq.batches import NoStarter
    from taskq.clock import SystemClock

    run_event(_batch_runner(), NoStarter(), {}, SystemClock().now_ms() + BATCH_RUN_MS)


@cache
def _batch_runner() -> Any:
    from taskq.batch_runner import BatchRunner
    from taskq.clock import SystemClock
    from taskq.store import file_objects_from_env, store_from_env

    objects = file_objects_from_env()
    delay = float(os.environ.get(PUT_DELAY_VARIABLE) or 0)
    return BatchRunner(store_from_env(), _DelayedPuts(objects, delay) if delay else objects, SystemClock())


class _DelayedPuts:
    """A test's window: with TASKQ_TEST_OBJECT_PUT_DELAY (seconds) the runner's file writes wait
    that long first, so a test can `kill -9` the server while a batch is `finalizing`
    (tests/local/test_local_batch_kill.py). The product code has no such pause."""

    def __init__(self, objects: Any, seconds: float) -> None:
        self._objects, self._seconds = objects, seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._objects, name)

    def write(self, *args: Any, **kwargs: Any) -> Any:  # how the runner writes its output files
        time.sleep(self._seconds)
        return self._objects.write(*args, **kwargs)


def scheduled_jobs() -> None:
    from taskq_dispatcher.scheduled import run_scheduled_jobs

    run_scheduled_jobs()


def stream_job(environ: Mapping[str, str] = os.environ) -> Callable[[], None]:
    """Polls the Tasks stream; the feed is built on first use (the tables exist by then)."""
    feeds: list[Any] = []

    def poll() -> None:
        if not feeds:
            feeds.append(_stream_feed(environ))
        feeds[0].poll()

    return poll


def _stream_feed(environ: Mapping[str, str]) -> Any:
    from taskq_dispatcher.stream import lambda_handler

    from .embedded import stream_consumed
    from .moto_state import forget_moto_shard_iterator
    from .streams import StreamFeed

    endpoint = environ.get("DYNAMODB_ENDPOINT") or None
    region = environ.get("AWS_DEFAULT_REGION", "us-east-1")
    table = environ["TASKS_TABLE"]
    embedded = endpoint is None  # moto in this process: its stream may be trimmed in place
    return StreamFeed(
        boto3.client("dynamodb", endpoint_url=endpoint, region_name=region),
        streams_client(endpoint, region),
        table,
        lambda_handler,
        on_consumed=(lambda _shard, through: stream_consumed(table, through)) if embedded else None,
        forget_iterator=forget_moto_shard_iterator if embedded else None,
    )


def streams_client(endpoint: str | None, region: str) -> Any:
    """A DynamoDB Streams client. botocore now addresses streams by account
    (`<account>.streams-ddb...`), which moto does not recognise: the classic endpoint works
    for both."""
    return boto3.client(
        "dynamodbstreams",
        endpoint_url=endpoint,
        region_name=region,
        config=Config(account_id_endpoint_mode="disabled"),
    )
