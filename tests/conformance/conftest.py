"""One store, every backend: the `store` of these tests is a DynamoStore on moto in-process, on
moto's server process and on dynalite, so a behaviour that holds on one backend only (like a key
condition moto accepts and DynamoDB rejects) shows up as a failure on the others.

The two server processes start once per session; every test gets fresh tables from
template.yaml, so global reads (the sweep index, the dead letters, the API key listing) see only
what the test wrote.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from taskq.clock import ManualClock
from taskq.store import DynamoStore
from taskq_local.template import create_tables
from tests.conftest import LOGICAL_IDS, TABLES
from tests.servers import client_for, tables_on

BACKENDS = ("moto", "moto_server", "dynalite")
# What each backend lacks, for the tests marked with the matching `needs_*` marker.
MISSING = {
    "dynalite": {
        "needs_transactions": "dynalite has no TransactWriteItems",
        # dynalite predates the parameter (2023) and ignores it: a failed condition returns no item
        "needs_return_values_on_condition_failure": "dynalite ignores ReturnValuesOnConditionCheckFailure",
    }
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_transactions: uses TransactWriteItems (skipped on dynalite)")
    config.addinivalue_line(
        "markers", "needs_return_values_on_condition_failure: reads the item a failed condition returns"
    )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    for marker, reason in MISSING.get(request.param, {}).items():
        if request.node.get_closest_marker(marker) is not None:
            pytest.skip(f"{request.param}: {reason}")
    return request.param


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest) -> Iterator[DynamoStore]:
    if backend == "moto":
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            create_tables(client, LOGICAL_IDS, streams=False)
            yield DynamoStore(client, TABLES)
        return
    endpoint = request.getfixturevalue("dynalite_endpoint" if backend == "dynalite" else "moto_server_endpoint")
    tables = tables_on(endpoint)
    client = client_for(endpoint)
    yield DynamoStore(client, tables)
    for name in (tables.tasks, tables.control, tables.results, tables.events):
        client.delete_table(TableName=name)  # keeps the long-lived servers small


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
