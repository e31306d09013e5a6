"""Servers for the concurrency suite: one dynalite and one moto server per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taskq_local.processes import free_port, running
from tests.servers import dynalite_command, serial_moto_server_command


@pytest.fixture(scope="session")
def dynalite_endpoint() -> Iterator[str]:
    port = free_port()
    with running(dynalite_command(port), port) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def moto_server_endpoint() -> Iterator[str]:
    port = free_port()
    with running(serial_moto_server_command(port), port) as endpoint:
        yield endpoint
