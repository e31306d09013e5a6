"""The local server for this folder's tests: a subprocess shared by the end-to-end tests, and one
in-process per test serving a test ASGI app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from local_server_process import ServerProcess, start_server
from moto.core.models import botocore_stubber
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models import table as table_models
from moto.dynamodb.models.table import Table

from taskq_local import embedded, moto_state
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


@pytest.fixture
def local_moto(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The embedded store's moto patches on the test's moto, undone afterwards."""
    monkeypatch.setattr(botocore_stubber, "process_request", botocore_stubber.process_request)
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", DynamoDBBackend.transact_write_items)
    monkeypatch.setattr(DynamoDBBackend, "update_item", DynamoDBBackend.update_item)
    for name in ("query", "put_item", "delete_item"):  # moto_index.index_queries
        monkeypatch.setattr(Table, name, getattr(Table, name))
    monkeypatch.setattr(table_models.StreamRecord, "__init__", table_models.StreamRecord.__init__)
    monkeypatch.setattr(table_models.StreamRecord, "taskq_deterministic", False, raising=False)
    embedded.make_moto_atomic()
    moto_state.deterministic_event_ids()
    yield dynamodb
    embedded.install_recorder(None)
