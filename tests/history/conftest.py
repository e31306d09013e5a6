"""A dynalite server for the fault-injection tests (the concurrency suite starts its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taskq_local.processes import free_port, running
from tests.servers import dynalite_command


@pytest.fixture(scope="session")
def dynalite_endpoint() -> Iterator[str]:
    port = free_port()
    with running(dynalite_command(port), port) as endpoint:
        yield endpoint
