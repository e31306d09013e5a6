"""The partition-limit simulator as a client meets it: a proxy in front of dynalite answering
DynamoDB's throttling error beyond a partition's write rate. The buckets' clock stands still
(nothing refills), so the counts do not depend on how fast this machine is."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.partition_proxy import THROTTLED, Simulator, partition_proxy
from bench.server import fresh_tables
from taskq.clock import SystemClock
from taskq.config import TableNames
from taskq.models import Principal, Role
from taskq.requests import PutRequest, RegisterRequest, TakeRequest
from taskq.service import QueueService
from taskq.store import DynamoStore
from taskq_local.processes import free_port, running

LIMIT = 20  # write units per partition, and no refill


@pytest.fixture
def proxied(dynalite_endpoint: str) -> Iterator[tuple[str, Simulator, TableNames]]:
    tables = fresh_tables(dynalite_endpoint)
    with partition_proxy(dynalite_endpoint, LIMIT, now=lambda: 0.0) as (endpoint, sim):
        sim.watch(tables.by_logical_id())
        yield endpoint, sim, tables


def no_retries(endpoint: str):
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t",
        config=config,
    )  # fmt: skip


def put(client, table: str, task_id: str, queue: str | None = None, shard: str | None = None) -> str:
    """'ok' or the error code of one PutItem."""
    item = {"task_id": {"S": task_id}, "start_time": {"N": "1"}, "sweep_at": {"N": "1"}}
    if queue is not None:
        item["ready_queue"] = {"S": queue}
    if shard is not None:
        item["sweep_shard"] = {"S": shard}
    try:
        client.put_item(TableName=table, Item=item)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return "ok"


def test_a_burst_beyond_the_rate_of_one_index_key_is_throttled(proxied):
    endpoint, sim, tables = proxied
    client = no_retries(endpoint)
    answers = [put(client, tables.tasks, f"t{i}", queue="hot:0") for i in range(LIMIT + 10)]
    assert answers == ["ok"] * LIMIT + [THROTTLED] * 10  # distinct table keys: the index is the limit
    assert sim.stats.throttled == 10
    stored = client.scan(TableName=tables.tasks, Select="COUNT")["Count"]
    assert stored == LIMIT  # a throttled write never reached dynalite


def test_two_index_keys_are_limited_independently(proxied):
    endpoint, _, tables = proxied
    client = no_retries(endpoint)
    assert [put(client, tables.tasks, f"a{i}", queue="a:0") for i in range(LIMIT)] == ["ok"] * LIMIT
    assert put(client, tables.tasks, "a-more", queue="a:0") == THROTTLED
    assert [put(client, tables.tasks, f"b{i}", queue="b:0") for i in range(LIMIT)] == ["ok"] * LIMIT


def test_every_index_the_item_enters_counts(proxied):
    endpoint, _, tables = proxied
    client = no_retries(endpoint)
    # spend the sweep shard's units with items outside the ready index
    assert [put(client, tables.tasks, f"s{i}", shard="0") for i in range(LIMIT)] == ["ok"] * LIMIT
    assert put(client, tables.tasks, "fresh-queue", queue="fresh:0") == "ok"
    assert put(client, tables.tasks, "fresh-queue-2", queue="fresh:0", shard="0") == THROTTLED


def test_the_service_runs_through_the_proxy_and_a_claim_writes_the_ready_key(proxied):
    """Put, take and complete through the real store: answers pass back intact (checksums,
    keep-alive), and each claim is charged on the queue's ready partition."""
    endpoint, sim, tables = proxied
    service = QueueService(DynamoStore(no_retries(endpoint), tables), SystemClock())
    service.register(Principal("ak-admin", Role.ADMIN), RegisterRequest(queue="q", endpoint="/v1/x"))
    producer, worker = Principal("ak-p", Role.PRODUCER), Principal("ak-w", Role.WORKER)
    for i in range(3):
        service.put(producer, PutRequest(queue="q", endpoint="/v1/x", data={"n": i}))
    taken = service.take(worker, TakeRequest(queues=["q:0"], strategy="fifo", size=3))
    assert len(taken["q:0"]) == 3
    ready = {name: n for name, n in sim.stats.units.items() if name.endswith("/ReadyByQueue")}
    assert ready == {f"{tables.tasks}/ReadyByQueue": 6}  # 3 inserts by the puts, 3 deletes by the claims
    assert sim.stats.throttled == 0


def test_the_proxy_runs_as_a_process_of_its_own(dynalite_endpoint: str):
    """What the hot-queue bench runs: `python -m bench.partition_proxy`, told the tables over
    HTTP, its counts read back over HTTP."""
    tables = fresh_tables(dynalite_endpoint)
    port = free_port()
    command = [sys.executable, "-m", "bench.partition_proxy", dynalite_endpoint, "1000", str(port)]
    with running(command, port) as endpoint:
        watch = json.dumps(tables.by_logical_id()).encode()
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/_watch", watch, method="POST"), timeout=30)
        assert put(no_retries(endpoint), tables.tasks, "t1", queue="q:0") == "ok"
        stats = json.load(urllib.request.urlopen(f"{endpoint}/_stats", timeout=30))
    assert stats["writes"] == 1 and stats["units"] == {f"{tables.tasks}/-": 1, f"{tables.tasks}/ReadyByQueue": 1}
