"""The Batch API's files through the real `openai` client against `taskq serve` (spec §6): the
client's multipart upload, retrieve, content, list and delete work unchanged with a taskq key,
and another key cannot see the file."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from local_server_process import ServerProcess, http

# Two lines, a CRLF, non-ASCII text and a blank line: the content must come back byte for byte.
CONTENT = (
    '{"custom_id": "r-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}\r\n'
    '{"custom_id": "r-2", "method": "POST", "url": "/v1/chat/completions", "body": {"q": "été 東京"}}\n'
).encode()


def client(server: ServerProcess, key: str) -> openai.OpenAI:
    # No retries: a failure must show here, not be repeated (the client retries 5xx twice).
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0, timeout=30)


def new_key(server: ServerProcess, name: str, role: str) -> str:
    status, created, _ = http("POST", f"{server.base_url}/v1/keys", {"name": name, "role": role}, server.admin_key)
    assert status == 201, created
    return created["apikey"]


@pytest.fixture(scope="module")
def producers(local_server: ServerProcess) -> dict[str, Any]:
    return {name: client(local_server, new_key(local_server, name, "producer")) for name in ("alice", "bob")}


def test_the_openai_client_uploads_retrieves_reads_lists_and_deletes_a_file(producers):
    alice = producers["alice"]

    created = alice.files.create(file=("requests.jsonl", CONTENT), purpose="batch")

    assert created.id.startswith("file-")
    assert (created.object, created.bytes, created.filename, created.purpose) == (
        "file",
        len(CONTENT),
        "requests.jsonl",
        "batch",
    )
    assert alice.files.retrieve(created.id) == created
    assert alice.files.content(created.id).content == CONTENT
    assert created.id in [f.id for f in alice.files.list()]

    deleted = alice.files.delete(created.id)

    assert (deleted.id, deleted.deleted) == (created.id, True)
    with pytest.raises(openai.NotFoundError):
        alice.files.retrieve(created.id)
    assert created.id not in [f.id for f in alice.files.list()]


def test_another_key_cannot_see_the_file(producers):
    created = producers["alice"].files.create(file=("mine.jsonl", CONTENT), purpose="batch")
    bob = producers["bob"]

    with pytest.raises(openai.NotFoundError):
        bob.files.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        bob.files.content(created.id)
    with pytest.raises(openai.NotFoundError):
        bob.files.delete(created.id)
    assert created.id not in [f.id for f in bob.files.list()]
    assert producers["alice"].files.content(created.id).content == CONTENT


def test_the_client_sees_a_bad_purpose_as_a_400_naming_it(producers):
    with pytest.raises(openai.BadRequestError, match="purpose"):
        producers["alice"].files.create(file=("x.jsonl", CONTENT), purpose="fine-tune")
