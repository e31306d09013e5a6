"""A batch's large output file is written with S3 multipart, part by part (docs/design.md
"Batches", finalization): a finalization killed between two parts is run again and the batch
points at exactly one output file holding every line once. The part size is injected small (and
moto's 5 MiB minimum lowered with it) so a few KB make several parts."""

from __future__ import annotations

import boto3
import pytest
import test_batches as batch_tests
from apigw import call
from files_support import BUCKET, create_bucket
from test_batches import Crash, content, fanned_out, finish, retrieve, take_lines

from taskq.batch_runner import BatchRunner
from taskq.store import FileObjects

PART = 1024
LINES = 40

# The batch tests' fixtures, shared rather than repeated (`objects` is this module's own).
services, runner, starter, queues, uploaded = (
    batch_tests.services,
    batch_tests.runner,
    batch_tests.starter,
    batch_tests.queues,
    batch_tests.uploaded,
)


@pytest.fixture
def objects(dynamodb: object, monkeypatch: pytest.MonkeyPatch) -> FileObjects:
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", PART)
    s3 = boto3.client("s3", region_name="us-east-1")
    create_bucket(s3)
    return FileObjects(s3, BUCKET, part_bytes=PART)


def test_a_finalization_killed_between_output_parts_is_redone_into_exactly_one_file(
    producer, worker, uploaded, runner, store, objects, clock, monkeypatch
):
    batch = fanned_out(producer, uploaded, runner, LINES)
    for i, task in take_lines(worker, batch["id"]).items():
        finish(worker, task, status_code=500 if i % 10 == 3 else 200)
    original = objects.put_part
    parts: list[int] = []

    def second_part_dies(file_id, upload_id, number, data):
        parts.append(number)
        if len(parts) == 2:
            raise Crash()
        return original(file_id, upload_id, number, data)

    monkeypatch.setattr(objects, "put_part", second_part_dies)
    with pytest.raises(Crash):
        BatchRunner(store, objects, clock).run(batch["id"], clock.now_ms() + 1000)
    monkeypatch.setattr(objects, "put_part", original)
    assert retrieve(producer, batch["id"])["status"] == "finalizing"
    clock.advance(seconds=2)  # the dead run's lease has ended
    written: list[int] = []
    monkeypatch.setattr(objects, "put_part", lambda *a: written.append(len(a[3])) or original(*a))

    BatchRunner(store, objects, clock).run_all(clock.now_ms() + 1000)

    done = retrieve(producer, batch["id"])
    assert done["status"] == "completed", done
    output = content(producer, done["output_file_id"])
    errors = content(producer, done["error_file_id"])
    assert sorted(x["custom_id"] for x in output + errors) == sorted(f"r{i}" for i in range(LINES))
    assert sorted(x["custom_id"] for x in errors) == sorted(f"r{i}" for i in range(LINES) if i % 10 == 3)
    assert len(written) >= 3 and all(size >= PART for size in written[:-1])  # part by part
    listed = [f["id"] for f in call("GET", "/v1/files", None, producer).body["data"]]
    assert listed.count(done["output_file_id"]) == 1 and listed.count(done["error_file_id"]) == 1
    assert objects._s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
