"""A dynalite server for the benchmarks: started on a free port, tables from template.yaml.

dynalite keeps its indexes ordered (a query reads from the head of the partition whatever the
table holds), unlike moto, whose index queries scan the table: depth scaling is only
meaningful here.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import Iterator

import boto3
from botocore.config import Config

from taskq.config import TableNames
from taskq_local.processes import DYNALITE, free_port, running
from taskq_local.template import create_tables


def dynalite_version() -> str:
    return json.loads((DYNALITE.parent / "package.json").read_text())["version"]


@contextlib.contextmanager
def dynalite() -> Iterator[str]:
    """An in-memory dynalite for the duration of the block; yields its endpoint."""
    node = shutil.which("node")
    if node is None or not DYNALITE.exists():
        raise SystemExit("the benchmarks need node and dynalite: run `make install` (npm ci)")
    port = free_port()
    # createTableMs=0: tables are ACTIVE at once, so a fresh table per run costs nothing.
    command = [
        node,
        str(DYNALITE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--createTableMs",
        "0",
        "--deleteTableMs",
        "0",
    ]
    with running(command, port) as endpoint:
        yield endpoint


def client_for(endpoint: str | None, pool: int = 10, validate: bool = True):
    """One client per simulated Lambda instance, as the functions build it (standard retries).

    `validate=False` skips botocore's client-side parameter validation, which costs more CPU
    than the rest of a 25-item BatchWriteItem; only the bulk fill uses it."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"mode": "standard"}, max_pool_connections=pool, parameter_validation=validate),
    )


def fresh_tables(endpoint: str) -> TableNames:
    """Uniquely named tables from template.yaml on the server at `endpoint`."""
    suffix = uuid.uuid4().hex[:8]
    names = TableNames(
        tasks=f"tasks-{suffix}", control=f"control-{suffix}", results=f"results-{suffix}", events=f"events-{suffix}"
    )
    create_tables(
        client_for(endpoint),
        names.by_logical_id(),
    )
    return names
