"""The local server for this folder's tests: a subprocess shared by the end-to-end tests, and one
in-process per test serving a test ASGI app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from local_server_process import ServerProcess, start_server

from tests.local.asgi_apps import Board, Served, serve


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("server") / "server.log", admin_key="e2e-admin-key")
    yield server
    server.stop()


@pytest.fixture
def served() -> Iterator[Served]:
    """A server in-process: ANY /{proxy+} on the test ASGI app, /health and /v1/{proxy+} on a
    Lambda handler (tests/local/asgi_apps.py)."""
    board = Board()
    server = serve(board)
    yield Served(server, board)
    board.release()
    server.shutdown()
    server.server_close()
