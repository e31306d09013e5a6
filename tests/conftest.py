"""Shared fixtures: moto tables created from template.yaml, a manual clock, a service and
handler-level helpers."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from taskq.callbacks import CallbackGuard
from taskq.clock import ManualClock
from taskq.config import TableNames
from taskq.service import QueueService
from taskq.store import DynamoStore
from taskq_local.processes import free_port, running
from taskq_local.template import create_tables
from tests.servers import dynalite_command, serial_moto_server_command

TABLES = TableNames(tasks="taskq-tasks", control="taskq-control", results="taskq-results", events="taskq-events")
LOGICAL_IDS = TABLES.by_logical_id()


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach real AWS: fake credentials and region, table names for the functions."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TASKS_TABLE": TABLES.tasks,
        "CONTROL_TABLE": TABLES.control,
        "RESULTS_TABLE": TABLES.results,
        "EVENTS_TABLE": TABLES.events,
        "POWERTOOLS_SERVICE_NAME": "taskq-test",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DYNAMODB_ENDPOINT", raising=False)


@pytest.fixture
def dynamodb(request: pytest.FixtureRequest) -> Iterator[object]:
    """A moto DynamoDB client with the template's tables. Tests marked `without_stream` get no
    Tasks stream: moto copies every stream record on each transaction, which slows backlogs of
    thousands of tasks for tests that never read the stream."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, LOGICAL_IDS, streams=request.node.get_closest_marker("without_stream") is None)
        yield client


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(dynamodb: object) -> DynamoStore:
    return DynamoStore(dynamodb, TABLES)


PUBLIC_ADDRESS = "93.184.215.14"  # what every test host name resolves to, unless named below


def fake_dns(host: str, port: int) -> list[str]:
    """Test DNS: IP literals stand for themselves, `localhost` and `*.internal` are not public."""
    if host.replace(".", "").isdigit() or ":" in host:
        return [host]
    if host == "localhost":
        return ["127.0.0.1"]
    if host.endswith(".internal"):
        return ["10.1.2.3"]
    if host.endswith(".invalid"):
        raise OSError("Name or service not known")
    return [PUBLIC_ADDRESS]


@pytest.fixture
def callback_guard() -> CallbackGuard:
    """The AWS rules (no private addresses) over the test DNS."""
    return CallbackGuard(allow_private=False, resolve=fake_dns)


@pytest.fixture
def service(store: DynamoStore, clock: ManualClock, callback_guard: CallbackGuard) -> QueueService:
    return QueueService(store, clock, instance_id="api-test", callback_guard=callback_guard)


# --- DynamoDB server processes, one of each per test session (concurrency and conformance suites)


@pytest.fixture(scope="session")
def dynalite_endpoint() -> Iterator[str]:
    port = free_port()
    # createTableMs=0: tables are ACTIVE at once, so fresh tables per test cost next to nothing.
    with running([*dynalite_command(port), "--createTableMs", "0", "--deleteTableMs", "0"], port) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def moto_server_endpoint() -> Iterator[str]:
    port = free_port()
    with running(serial_moto_server_command(port), port) as endpoint:
        yield endpoint
