"""A local server subprocess shared by the end-to-end tests of this folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from local_server_process import ServerProcess, start_server


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("server") / "server.log", admin_key="e2e-admin-key")
    yield server
    server.stop()
