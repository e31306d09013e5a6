"""The DynamoDB the local server runs on: moto in-process (the default) or, with
DYNAMODB_ENDPOINT, an external DynamoDB-compatible endpoint. Either way the template's tables
exist before the first request, and the handler finds them through the same environment
variables it reads in AWS."""

from __future__ import annotations

import os
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from .template import table_definitions

# Logical id in template.yaml -> (environment variable the functions read, local default name).
TABLES = {
    "TasksTable": ("TASKS_TABLE", "taskq-tasks"),
    "ControlTable": ("CONTROL_TABLE", "taskq-control"),
    "ResultsTable": ("RESULTS_TABLE", "taskq-results"),
}

# Serializes every request moto serves in this process (see make_moto_atomic).
STORE_LOCK = threading.RLock()


@dataclass(frozen=True)
class Database:
    description: str  # for the start-up banner
    table_names: dict[str, str]  # logical id -> table name


def configure_environment(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Sets what the functions read in AWS (table names, region, credentials) unless already set;
    returns logical id -> table name. Fake credentials keep a stray call away from real AWS."""
    defaults = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "POWERTOOLS_SERVICE_NAME": "taskq-local",
    }
    for name, value in defaults.items():
        environ.setdefault(name, value)
    names = {}
    for logical_id, (variable, default) in TABLES.items():
        names[logical_id] = environ.setdefault(variable, default)
    return names


def ensure_tables(client: Any, names: dict[str, str]) -> list[str]:
    """Creates the template's tables that do not exist yet; returns the names it created."""
    existing: set[str] = set()
    for page in client.get_paginator("list_tables").paginate():
        existing.update(page["TableNames"])
    created = []
    for logical_id, definition in table_definitions().items():
        name = names[logical_id]
        if name in existing:
            continue
        try:
            client.create_table(TableName=name, **definition)
        except ClientError as e:  # another process created it in the meantime
            if e.response["Error"]["Code"] != "ResourceInUseException":
                raise
        created.append(name)
    for name in created:
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return created


def make_moto_atomic() -> None:
    """moto's backends are not built for concurrent access: a conditional write reads, checks and
    writes in separate steps, so two threads could both pass one condition. DynamoDB makes each
    call atomic; one lock around each request moto serves does the same here. The lock wraps
    moto's botocore hook, through which every boto3 client in this process reaches moto, so
    clients created later by any code (the API function, the authorizer, the sweeper) are
    covered without knowing about it."""
    from moto.core.models import botocore_stubber

    serve = botocore_stubber.process_request
    if getattr(serve, "taskq_atomic", False):
        return

    def serve_atomically(request: Any) -> Any:
        with STORE_LOCK:
            if _operation(request) != "TransactWriteItems":
                return serve(request)
            streams = _stream_positions()
            answer = serve(request)
            keep_stream_shards(streams)
            return answer

    serve_atomically.taskq_atomic = True  # type: ignore[attr-defined]
    botocore_stubber.process_request = serve_atomically  # type: ignore[method-assign]


def start_database(environ: MutableMapping[str, str] = os.environ) -> Database:
    """Starts the embedded store (or connects to DYNAMODB_ENDPOINT) and creates missing tables.

    The embedded store lives as long as the process: it is never stopped, so a request still
    running while the server shuts down can never fall through to real AWS."""
    names = configure_environment(environ)
    endpoint = environ.get("DYNAMODB_ENDPOINT") or None
    if endpoint is None:
        from moto import mock_aws  # only the embedded mode needs moto

        mock_aws().start()
        make_moto_atomic()
        description = "embedded (moto, in-process)"
    else:
        description = endpoint
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=environ["AWS_DEFAULT_REGION"])
    ensure_tables(client, names)
    return Database(description=description, table_names=names)


# --- moto's stream, kept from growing (the local server reads it with streams.StreamFeed) ------


def _moto_region() -> tuple[str, str]:
    from moto.core import DEFAULT_ACCOUNT_ID

    return DEFAULT_ACCOUNT_ID, os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def _operation(request: Any) -> str:
    """The DynamoDB operation a request to moto names ("PutItem"), "" for other services."""
    target = request.headers.get("X-Amz-Target") or ""
    target = target.decode() if isinstance(target, bytes) else target
    service, _, operation = target.partition(".")
    return operation if service.startswith("DynamoDB_") else ""


def _stream_positions() -> dict[str, tuple[Any, int]]:
    """Each table's stream shard and its length, before a transaction."""
    from moto.dynamodb.models import dynamodb_backends

    account, region = _moto_region()
    tables = dynamodb_backends[account][region].tables
    return {name: (t.stream_shard, len(t.stream_shard.items)) for name, t in tables.items() if t.stream_shard}


def keep_stream_shards(before: dict[str, tuple[Any, int]]) -> None:
    """moto rolls a cancelled transaction back by swapping in a deep copy of each table it
    names, stream shard included, while readers hold iterators on the original shard: they
    would never see another record. So the original shard goes back into the live table, cut
    back to its length before the transaction (moto had applied the writes before the failing
    condition, each adding a record of a write that never happened)."""
    from moto.dynamodb.models import dynamodb_backends

    account, region = _moto_region()
    tables = dynamodb_backends[account][region].tables
    for name, (shard, length) in before.items():
        table = tables.get(name)
        if table is None or table.stream_shard is shard:
            continue
        del shard.items[length:]
        shard.table = table
        table.stream_shard = shard


def trim_moto_stream(table_name: str, through_sequence: str) -> None:
    """Drops a table's stream records up to `through_sequence` once they are handled, as
    DynamoDB trims records after 24 h: moto keeps every record (with both images) for the
    life of the process. Moving the shard's starting number keeps its numbering intact."""
    from moto.dynamodb.models import dynamodb_backends

    account, region = _moto_region()
    with STORE_LOCK:
        shard = dynamodb_backends[account][region].get_table(table_name).stream_shard
        if shard is None:
            return
        count = int(through_sequence) - shard.starting_sequence_number + 1
        if count > 0:
            del shard.items[:count]
            shard.starting_sequence_number += count


def forget_moto_shard_iterator(iterator_arn: str) -> None:
    """moto remembers every shard iterator it hands out; a reader polling several times a
    second would fill memory with used ones."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    account, region = _moto_region()
    with STORE_LOCK:
        dynamodbstreams_backends[account][region].shard_iterators.pop(iterator_arn, None)
