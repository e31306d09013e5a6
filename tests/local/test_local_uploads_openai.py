"""OpenAI's Uploads API through the real `openai` client against `taskq serve` (spec §6): a file
sent in parts comes back byte for byte from the files API and feeds a batch a worker completes;
a 20+ MB file in several parts round-trips; cancel; another key cannot see the upload; a
completed upload survives `kill -9` and a restart (parts of a pending one may not: documented)."""

from __future__ import annotations

import hashlib
import json
import signal
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from local_server_process import ServerProcess, http, start_server

CHAT = "/v1/chat/completions"
PART = 5 * 1024 * 1024 + 1  # an odd size: the parts are cut inside a line, and inside "é"


def client(server: ServerProcess, key: str) -> openai.OpenAI:
    # No retries: a failure must show here, not be repeated (the client retries 5xx twice).
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0, timeout=120)


def new_key(server: ServerProcess, name: str, role: str) -> str:
    status, created, _ = http("POST", f"{server.base_url}/v1/keys", {"name": name, "role": role}, server.admin_key)
    assert status == 201, created
    return created["apikey"]


def requests_for(queue: str, n: int, pad: int = 0) -> bytes:
    line = {"custom_id": "", "method": "POST", "url": CHAT, "body": {"model": queue, "q": "été " + "x" * pad}}
    return "".join(json.dumps(line | {"custom_id": f"r-{i}"}, ensure_ascii=False) + "\n" for i in range(n)).encode()


def wait_for(read, done, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


@pytest.fixture(scope="module")
def keys(local_server: ServerProcess) -> dict[str, str]:
    return {
        name: new_key(local_server, name, role)
        for name, role in [("alice", "producer"), ("bob", "producer"), ("w", "worker")]
    }


@pytest.fixture
def queue(local_server: ServerProcess) -> str:
    name = f"up-{time.monotonic_ns() % 10**9}"
    status, answer, _ = http(
        "POST", f"{local_server.base_url}/v1/queue/register", {"queue": name, "endpoint": CHAT}, local_server.admin_key
    )
    assert status == 200, answer
    return name


def test_an_upload_in_parts_reads_back_exactly_and_feeds_a_batch_a_worker_completes(
    local_server, keys, queue, tmp_path
):
    alice = client(local_server, keys["alice"])
    path = tmp_path / "in.jsonl"
    path.write_bytes(requests_for(queue, 8))

    upload = alice.uploads.upload_file_chunked(file=path, mime_type="text/jsonl", purpose="batch", part_size=100)

    assert upload.status == "completed" and upload.file is not None and upload.file.bytes == path.stat().st_size
    assert alice.files.content(upload.file.id).content == path.read_bytes()
    batch = alice.batches.create(input_file_id=upload.file.id, endpoint=CHAT, completion_window="24h")
    tasks: list[dict[str, Any]] = []

    def take_more() -> list[dict[str, Any]]:
        status, answer, _ = http(
            "POST", f"{local_server.base_url}/v1/queue/take", {"queues": [f"{queue}:1"], "size": 100}, keys["w"]
        )
        assert status == 200, answer
        tasks.extend(answer.get(f"{queue}:1", []))
        return tasks

    wait_for(take_more, lambda t: len(t) >= 8)
    for task in tasks:
        result = {"status_code": 200, "body": {"echo": task["custom_id"]}}
        headers = {"X-Lease-Id": task["lease_id"]}
        url = f"{local_server.base_url}/v1/queue/{task['task_id']}/complete"
        assert http("POST", url, result, keys["w"], headers)[0] == 200
    done = wait_for(lambda: alice.batches.retrieve(batch.id), lambda b: b.status == "completed")
    assert done.status == "completed", done
    output = [json.loads(x) for x in alice.files.content(done.output_file_id).text.splitlines()]
    assert sorted(x["custom_id"] for x in output) == sorted(f"r-{i}" for i in range(8))


def test_a_20_mb_file_in_several_parts_round_trips_byte_for_byte(local_server, keys, tmp_path):
    alice = client(local_server, keys["alice"])
    content = requests_for("m", 21_000, pad=1000)  # about 21 MB of lines with "é" in each
    assert len(content) > 20 * 1024 * 1024
    # Parts of a size that cuts the first boundary inside an "é" (at a UTF-8 continuation byte).
    part_size = next(i for i in range(PART, 2 * PART) if content[i] & 0xC0 == 0x80)
    path = tmp_path / "big.jsonl"
    path.write_bytes(content)

    upload = alice.uploads.upload_file_chunked(
        file=path, mime_type="text/jsonl", purpose="batch", part_size=part_size, md5=hashlib.md5(content).hexdigest()
    )

    assert upload.status == "completed" and upload.file.bytes == len(content)
    assert alice.files.content(upload.file.id).content == content


def test_cancel_and_another_key_cannot_see_the_upload(local_server, keys):
    alice, bob = client(local_server, keys["alice"]), client(local_server, keys["bob"])
    upload = alice.uploads.create(bytes=6, filename="a.jsonl", mime_type="text/jsonl", purpose="batch")
    part = alice.uploads.parts.create(upload_id=upload.id, data=b"{}\n")

    for attempt in (
        lambda: bob.uploads.parts.create(upload_id=upload.id, data=b"{}\n"),
        lambda: bob.uploads.complete(upload_id=upload.id, part_ids=[part.id]),
        lambda: bob.uploads.cancel(upload_id=upload.id),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    cancelled = alice.uploads.cancel(upload_id=upload.id)

    assert cancelled.status == "cancelled" and cancelled.file is None
    with pytest.raises(openai.ConflictError, match="cancelled"):
        alice.uploads.complete(upload_id=upload.id, part_ids=[part.id])

    mine = alice.uploads.upload_file_chunked(
        file=b"{}\n", filename="m.jsonl", bytes=3, mime_type="text/jsonl", purpose="batch"
    )
    with pytest.raises(openai.NotFoundError):
        bob.files.content(mine.file.id)


def test_a_completed_upload_survives_kill_9_a_pending_ones_parts_are_dropped(tmp_path: Path):
    def start(n: int) -> ServerProcess:
        return start_server(tmp_path / f"server-{n}.log", TASKQ_DATA_DIR=str(tmp_path / "data"))

    content = requests_for("m", 50)
    server = start(1)
    try:
        key = new_key(server, "p", "producer")
        alice = client(server, key)
        done = alice.uploads.upload_file_chunked(
            file=content, filename="kept.jsonl", bytes=len(content), mime_type="text/jsonl", purpose="batch"
        )
        pending = alice.uploads.create(bytes=6, filename="p.jsonl", mime_type="text/jsonl", purpose="batch")
        big = alice.uploads.create(bytes=2 * PART, filename="q.jsonl", mime_type="text/jsonl", purpose="batch")
        big_part = alice.uploads.parts.create(upload_id=big.id, data=b"x" * PART)  # in S3 multipart: in memory
    finally:
        server.stop(signal.SIGKILL)

    server = start(2)
    try:
        alice = client(server, key)
        assert alice.files.retrieve(done.file.id) == done.file
        assert alice.files.content(done.file.id).content == content
        # Small parts are held as objects (kept), but the S3 multipart upload lived in memory.
        parts = [alice.uploads.parts.create(upload_id=pending.id, data=b"{}\n").id for _ in range(2)]
        with pytest.raises(openai.ConflictError, match="create a new upload"):
            alice.uploads.complete(upload_id=pending.id, part_ids=parts)
        with pytest.raises(openai.ConflictError, match="create a new upload"):
            alice.uploads.parts.create(upload_id=big.id, data=b"y" * PART)
        assert big_part.upload_id == big.id
    finally:
        server.stop()
