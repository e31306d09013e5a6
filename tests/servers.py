"""DynamoDB server processes for tests that need real concurrency: dynalite (npm) and moto's
server mode. Each starts on a free loopback port with the template's tables."""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from taskq.config import TableNames
from taskq_local.processes import DYNALITE
from taskq_local.template import create_tables

ROOT = Path(__file__).resolve().parents[1]


def client_for(endpoint: str):
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")


def tables_on(endpoint: str) -> TableNames:
    """Fresh, uniquely named tables from template.yaml on the server at `endpoint`, without the
    Tasks stream: nothing reads it here (see create_tables)."""
    suffix = uuid.uuid4().hex[:8]
    names = TableNames(
        tasks=f"tasks-{suffix}", control=f"control-{suffix}", results=f"results-{suffix}", events=f"events-{suffix}"
    )
    create_tables(
        client_for(endpoint),
        names.by_logical_id(),
        streams=False,
    )
    return names


def dynalite_command(port: int) -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("SKIPPED: node is not installed, so the dynalite concurrency suite did not run")
    if not DYNALITE.exists():
        pytest.skip("SKIPPED: dynalite is not installed (run `npm ci`), so the dynalite suite did not run")
    return [node, str(DYNALITE), "--port", str(port)]


def serial_moto_server_command(port: int) -> list[str]:
    return [sys.executable, str(ROOT / "tests" / "serial_moto_server.py"), str(port)]
