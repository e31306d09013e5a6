"""The functions' DynamoDB client (store_from_env): what its creation costs a cold request."""

from __future__ import annotations

import os

import pytest
from botocore import loaders
from moto import mock_aws

from taskq.store import store_from_env


def test_creating_the_client_reads_only_the_dynamodb_model_not_every_service_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listed: list[str] = []
    real_listdir = os.listdir

    def listdir(path: str) -> list[str]:
        listed.append(path)
        return real_listdir(path)

    monkeypatch.setattr(loaders.os, "listdir", listdir)
    store = store_from_env()
    assert store._db.meta.service_model.service_name == "dynamodb"
    # botocore's own loader lists every service it ships (~450 directories) to check the name.
    assert len(listed) <= 5, f"{len(listed)} directories listed"


def test_the_client_answers_dynamodb_requests() -> None:
    with mock_aws():
        store = store_from_env()
        assert store._db.list_tables()["TableNames"] == []
