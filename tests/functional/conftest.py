"""Functional tests: the API function's handler, served by a QueueService on moto tables with a
manual clock. Principals stand for what the Lambda authorizer puts in the request context."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from apigw import Caller
from stream import Dispatcher, FakeReceiver, StreamReader, wire

from taskq.clock import ManualClock
from taskq.console import ConsoleService
from taskq.delivery import RetryPolicy
from taskq.keys import KeyService
from taskq.service import QueueService
from taskq.store import DynamoStore
from taskq_api.app import app
from taskq_api.dependencies import get_console_service, get_key_service, get_service


@pytest.fixture(autouse=True)
def serve(service: QueueService, store: DynamoStore, clock: ManualClock) -> Iterator[Callable[[QueueService], None]]:
    """Routes every handler call to the test services (keys and console on the same store and
    clock); yields a way to swap in another queue service."""

    def use(other: QueueService) -> None:
        app.dependency_overrides[get_service] = lambda: other

    use(service)
    app.dependency_overrides[get_key_service] = lambda: KeyService(store, clock)
    console = ConsoleService(store, clock)
    app.dependency_overrides[get_console_service] = lambda: console
    yield use
    for dependency in (get_service, get_key_service, get_console_service):
        app.dependency_overrides.pop(dependency, None)


@pytest.fixture
def admin() -> Caller:
    return Caller("ak-admin-0001", "admin")


@pytest.fixture
def producer() -> Caller:
    return Caller("ak-producer-0001", "producer")


@pytest.fixture
def worker() -> Caller:
    return Caller("ak-worker-0001", "worker")


# --- the dispatcher (stream.py) --------------------------------------------------------------

POLICY = RetryPolicy(backoff_seconds=10, max_attempts=3)  # attempts at 0, 10, 30 s


@pytest.fixture
def receiver() -> FakeReceiver:
    return FakeReceiver()


@pytest.fixture
def dispatcher(dynamodb, store: DynamoStore, clock: ManualClock, receiver: FakeReceiver) -> Iterator[Dispatcher]:
    """The dispatcher's entry points on the test tables, clock and receiver; read the stream
    from its start, so every operation of the test reaches it."""
    reader = StreamReader(dynamodb, os.environ["TASKS_TABLE"])
    wiring = wire(store, clock, receiver, POLICY)
    next(wiring)
    yield Dispatcher(reader, receiver, clock)
    next(wiring, None)
