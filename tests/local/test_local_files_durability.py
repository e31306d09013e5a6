"""The Batch API's files survive `kill -9` and a restart of the local server on the same
TASKQ_DATA_DIR, as its tables do (spec §5, issue 12): a file's record and its content come back
byte for byte, a deleted file stays deleted."""

from __future__ import annotations

import signal
from pathlib import Path

import openai
import pytest
from local_server_process import ServerProcess, http, start_server

CONTENT = '{"custom_id": "r-1", "method": "POST", "url": "/v1/chat/completions", "body": {"q": "é"}}\r\n'.encode()


def start(tmp_path: Path, n: int) -> ServerProcess:
    return start_server(tmp_path / f"server-{n}.log", TASKQ_DATA_DIR=str(tmp_path / "data"))


def files_client(server: ServerProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0, timeout=30)


def test_files_survive_kill_9_and_a_deleted_file_stays_deleted(tmp_path: Path):
    server = start(tmp_path, 1)
    try:
        status, created, _ = http(
            "POST", f"{server.base_url}/v1/keys", {"name": "p", "role": "producer"}, server.admin_key
        )
        assert status == 201, created
        key = created["apikey"]
        client = files_client(server, key)
        kept = client.files.create(file=("kept.jsonl", CONTENT), purpose="batch")
        gone = client.files.create(file=("gone.jsonl", b"{}\n"), purpose="batch")
        client.files.delete(gone.id)
    finally:
        server.stop(signal.SIGKILL)

    server = start(tmp_path, 2)
    try:
        client = files_client(server, key)
        assert client.files.retrieve(kept.id) == kept
        assert client.files.content(kept.id).content == CONTENT
        assert [f.id for f in client.files.list()] == [kept.id]
        with pytest.raises(openai.NotFoundError):
            client.files.content(gone.id)
        again = client.files.create(file=("after.jsonl", b"{}\n"), purpose="batch")  # writes still work
        assert client.files.content(again.id).content == b"{}\n"
    finally:
        server.stop()
