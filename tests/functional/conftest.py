"""Functional tests: the API function's handler, served by a QueueService on moto tables with a
manual clock. Principals stand for what the Lambda authorizer puts in the request context."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from apigw import Caller

from taskq.service import QueueService
from taskq_api.app import app
from taskq_api.dependencies import get_service


@pytest.fixture(autouse=True)
def serve(service: QueueService) -> Iterator[Callable[[QueueService], None]]:
    """Routes every handler call to the test service; yields a way to swap in another one."""

    def use(other: QueueService) -> None:
        app.dependency_overrides[get_service] = lambda: other

    use(service)
    yield use
    app.dependency_overrides.pop(get_service, None)


@pytest.fixture
def admin() -> Caller:
    return Caller("ak-admin-0001", "admin")


@pytest.fixture
def producer() -> Caller:
    return Caller("ak-producer-0001", "producer")


@pytest.fixture
def worker() -> Caller:
    return Caller("ak-worker-0001", "worker")
