"""/v1/files (spec §6): upload (multipart), list, retrieve, content, delete, each key seeing only
its own files (admin: all). The content lives in moto's S3, the records in the Control table."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from apigw import Caller, call
from files_support import BUCKET, create_bucket, multipart
from files_support import query_get as get

from taskq.clock import ManualClock
from taskq.files import MAX_FILE_BYTES, FileService
from taskq.store import DynamoStore, FileObjects
from taskq.store.keys import file_object_key
from taskq_api.app import app
from taskq_api.dependencies import get_file_service

ERROR_FIELDS = {"code", "message", "timestamp"}
JSONL = b'{"custom_id": "a", "method": "POST"}\r\n{"custom_id": "\xc3\xa9t\xc3\xa9"}\n\n'


@pytest.fixture
def s3(dynamodb: object):
    """moto's S3, inside the same mock as the tables, with the files bucket."""
    client = boto3.client("s3", region_name="us-east-1")
    create_bucket(client)
    return client


@pytest.fixture(autouse=True)
def files(store: DynamoStore, clock: ManualClock, s3) -> Iterator[FileService]:
    service = FileService(store, FileObjects(s3, BUCKET), clock)
    app.dependency_overrides[get_file_service] = lambda: service
    yield service
    app.dependency_overrides.pop(get_file_service, None)


def upload(caller: Caller, content: bytes = JSONL, purpose: bytes = b"batch", filename: str = "in.jsonl"):
    content_type, body = multipart({"purpose": (None, purpose), "file": (filename, content)})
    return call("POST", "/v1/files", body, caller, {"Content-Type": content_type})


def uploaded(caller: Caller, content: bytes = JSONL) -> dict:
    answer = upload(caller, content)
    assert answer.status == 200, answer
    return answer.body


def content_of(caller: Caller, file_id: str) -> bytes:
    event_answer = call_raw("GET", f"/v1/files/{file_id}/content", caller)
    assert event_answer["statusCode"] == 200, event_answer
    return event_answer["body"].encode("utf-8")


def call_raw(method: str, path: str, caller: Caller) -> dict:
    """The handler's raw answer (the content route's body is not JSON)."""
    from apigw import LambdaContextStub, build_event

    from taskq_api.app import lambda_handler

    return lambda_handler(build_event(method, path, None, caller), LambdaContextStub())


def assert_error(answer, status: int, *words: str) -> None:
    assert answer.status == status, answer
    assert set(answer.body) == ERROR_FIELDS and answer.body["code"] == status, answer.body
    for word in words:
        assert word in answer.body["message"], answer.body


def test_an_upload_answers_openais_file_object_and_keeps_the_bytes_exactly(producer: Caller, clock: ManualClock, s3):
    answer = upload(producer, filename="requests.jsonl")

    assert answer.status == 200, answer
    created = answer.body
    assert created["id"].startswith("file-")
    assert created | {"id": "x"} == {
        "id": "x",
        "object": "file",
        "bytes": len(JSONL),
        "created_at": clock.now_ms() // 1000,
        "filename": "requests.jsonl",
        "purpose": "batch",
        "status": "processed",
        "status_details": None,
    }
    assert content_of(producer, created["id"]) == JSONL
    stored = s3.get_object(Bucket=BUCKET, Key=file_object_key(created["id"]))
    assert stored["Body"].read() == JSONL
    assert stored["ContentType"] == "application/jsonl"


def test_retrieve_answers_the_file_object(producer: Caller):
    created = uploaded(producer)

    answer = call("GET", f"/v1/files/{created['id']}", None, producer)

    assert answer.status == 200 and answer.body == created


def test_another_key_gets_404_for_a_file_an_admin_sees_it(producer: Caller, admin: Caller):
    created = uploaded(producer)
    other = Caller("ak-producer-0002", "producer")

    for path in (f"/v1/files/{created['id']}", f"/v1/files/{created['id']}/content"):
        assert_error(call("GET", path, None, other), 404, created["id"])
    assert_error(call("DELETE", f"/v1/files/{created['id']}", None, other), 404, created["id"])
    assert call("GET", f"/v1/files/{created['id']}", None, admin).body == created
    assert content_of(admin, created["id"]) == JSONL
    assert call("GET", "/v1/files", None, other).body["data"] == []


def test_an_unknown_file_is_404(producer: Caller):
    assert_error(call("GET", "/v1/files/file-00000000000000000000000000000", None, producer), 404, "not found")


def test_list_is_newest_first_and_pages_with_after_and_has_more(producer: Caller, admin: Caller, clock: ManualClock):
    ids = []
    for _ in range(5):
        ids.append(uploaded(producer)["id"])
        clock.advance(ms=1)
    someone_else = uploaded(Caller("ak-producer-0002", "producer"))["id"]

    first = get("/v1/files?limit=2", producer).body
    assert [f["id"] for f in first["data"]] == [ids[4], ids[3]]
    assert (first["object"], first["has_more"], first["first_id"], first["last_id"]) == ("list", True, ids[4], ids[3])
    second = get(f"/v1/files?limit=2&after={first['last_id']}", producer).body
    assert [f["id"] for f in second["data"]] == [ids[2], ids[1]] and second["has_more"] is True
    last = get(f"/v1/files?limit=2&after={second['last_id']}", producer).body
    assert [f["id"] for f in last["data"]] == [ids[0]] and last["has_more"] is False
    oldest_first = get("/v1/files?order=asc", producer).body
    assert [f["id"] for f in oldest_first["data"]] == ids and oldest_first["has_more"] is False
    everyone = call("GET", "/v1/files", None, admin).body
    assert [f["id"] for f in everyone["data"]] == [someone_else, *reversed(ids)]


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=x", "limit"), ("order=sideways", "order")])
def test_list_refuses_bad_parameters_naming_them(producer: Caller, query: str, field: str):
    assert_error(get(f"/v1/files?{query}", producer), 400, field)


def test_delete_removes_the_record_the_listing_and_the_object(producer: Caller, s3):
    created = uploaded(producer)
    kept = uploaded(producer)

    answer = call("DELETE", f"/v1/files/{created['id']}", None, producer)

    assert answer.status == 200 and answer.body == {"id": created["id"], "object": "file", "deleted": True}
    assert_error(call("GET", f"/v1/files/{created['id']}", None, producer), 404)
    assert_error(call("GET", f"/v1/files/{created['id']}/content", None, producer), 404)
    assert [f["id"] for f in call("GET", "/v1/files", None, producer).body["data"]] == [kept["id"]]
    remaining = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert [o["Key"] for o in remaining] == [file_object_key(kept["id"])]


def test_a_purpose_other_than_batch_is_400_naming_purpose(producer: Caller, s3):
    assert_error(upload(producer, purpose=b"fine-tune"), 400, "purpose", "batch")
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


@pytest.mark.parametrize("missing", ["file", "purpose"])
def test_a_missing_field_is_400_naming_it(producer: Caller, missing: str):
    fields = {"purpose": (None, b"batch"), "file": ("in.jsonl", JSONL)}
    del fields[missing]
    content_type, body = multipart(fields)

    assert_error(call("POST", "/v1/files", body, producer, {"Content-Type": content_type}), 400, f"{missing}:")


def test_an_upload_that_is_not_multipart_is_415(producer: Caller):
    assert_error(call("POST", "/v1/files", {"file": "x", "purpose": "batch"}, producer), 415, "multipart/form-data")


def test_a_multipart_body_without_its_closing_boundary_is_400(producer: Caller):
    content_type, body = multipart({"purpose": (None, b"batch"), "file": ("in.jsonl", JSONL)})
    cut = body[: body.rindex("--")]

    assert_error(call("POST", "/v1/files", cut, producer, {"Content-Type": content_type}), 400, "boundary")


def test_an_empty_file_is_400_and_one_over_10_mb_is_413(producer: Caller):
    assert_error(upload(producer, content=b""), 400, "file")
    assert_error(upload(producer, content=b"x" * (MAX_FILE_BYTES + 1)), 413, "file")


def test_a_worker_key_cannot_upload(worker: Caller):
    assert_error(upload(worker), 403, "producer")
