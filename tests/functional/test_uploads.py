"""/v1/uploads (spec §6, OpenAI's Uploads API): create, parts, complete, cancel, through the API
handler, with S3 multipart in moto's S3. The part size minimum is lowered (S3's 5 MiB, and
moto's with it) so the rules can be shown with small parts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import boto3
import pytest
from apigw import Caller, build_event, call, send
from files_support import BUCKET, create_bucket, multipart, multipart_base64

from taskq.batches import BatchService, NoStarter
from taskq.clock import ManualClock
from taskq.files import FileService
from taskq.store import DynamoStore, FileObjects
from taskq.store.keys import file_object_key
from taskq.uploads import MAX_UPLOAD_BYTES, UPLOAD_SECONDS, UploadService
from taskq_api.app import app
from taskq_api.dependencies import get_batch_service, get_file_service, get_upload_service

MIN_PART = 1024
ERROR_FIELDS = {"code", "message", "timestamp"}


@pytest.fixture
def s3(dynamodb: object, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", MIN_PART)
    client = boto3.client("s3", region_name="us-east-1")
    create_bucket(client)
    return client


@pytest.fixture(autouse=True)
def services(store: DynamoStore, clock: ManualClock, s3) -> Iterator[UploadService]:
    objects = FileObjects(s3, BUCKET)
    uploads = UploadService(store, objects, clock, min_part_bytes=MIN_PART)
    app.dependency_overrides[get_upload_service] = lambda: uploads
    app.dependency_overrides[get_file_service] = lambda: FileService(store, objects, clock)
    yield uploads
    app.dependency_overrides.pop(get_upload_service, None)
    app.dependency_overrides.pop(get_file_service, None)


def create(caller: Caller, size: int, **fields):
    body = {"bytes": size, "filename": "big.jsonl", "mime_type": "text/jsonl", "purpose": "batch"} | fields
    return call("POST", "/v1/uploads", body, caller)


def created(caller: Caller, size: int) -> dict:
    answer = create(caller, size)
    assert answer.status == 200, answer
    return answer.body


def add_part(caller: Caller, upload_id: str, data: bytes):
    """A part as API Gateway hands it over with the template's BinaryMediaTypes: base64."""
    content_type, body = multipart_base64({"data": ("blob", data)})
    event = build_event("POST", f"/v1/uploads/{upload_id}/parts", body, caller, {"Content-Type": content_type})
    event["isBase64Encoded"] = True
    return send(event)


def part_id(caller: Caller, upload_id: str, data: bytes) -> str:
    answer = add_part(caller, upload_id, data)
    assert answer.status == 200, answer
    return answer.body["id"]


def complete(caller: Caller, upload_id: str, part_ids: list[str], **fields):
    return call("POST", f"/v1/uploads/{upload_id}/complete", {"part_ids": part_ids} | fields, caller)


def content_of(caller: Caller, file_id: str) -> bytes:
    from apigw import LambdaContextStub

    from taskq_api.app import lambda_handler

    answer = lambda_handler(build_event("GET", f"/v1/files/{file_id}/content", None, caller), LambdaContextStub())
    assert answer["statusCode"] == 200, answer
    return answer["body"].encode("utf-8")


def assert_error(answer, status: int, *words: str) -> None:
    assert answer.status == status, answer
    assert set(answer.body) == ERROR_FIELDS and answer.body["code"] == status, answer.body
    for word in words:
        assert word in answer.body["message"], answer.body


def uploaded_in_parts(caller: Caller, parts: list[bytes]) -> tuple[dict, list[str]]:
    upload = created(caller, sum(map(len, parts)))
    return upload, [part_id(caller, upload["id"], p) for p in parts]


PARTS = [b'{"custom_id": "a"}\n' * 60, "é".encode() * 600, b"\xc3" + b"tail\n"]  # a part cut inside "é"


# --- create, parts, complete --------------------------------------------------------------------


def test_create_answers_openais_pending_upload(producer: Caller, clock: ManualClock):
    answer = create(producer, 5000)

    assert answer.status == 200, answer
    upload = answer.body
    now = clock.now_ms() // 1000
    assert upload["id"].startswith("upload_")
    assert upload | {"id": "x"} == {
        "id": "x",
        "object": "upload",
        "bytes": 5000,
        "created_at": now,
        "expires_at": now + UPLOAD_SECONDS,
        "filename": "big.jsonl",
        "purpose": "batch",
        "status": "pending",
        "file": None,
    }


def test_parts_joined_in_order_become_a_file_with_exactly_those_bytes(producer: Caller, s3):
    upload, ids = uploaded_in_parts(producer, PARTS)
    part = add_part(producer, created(producer, 10)["id"], b"0123456789").body
    assert set(part) == {"id", "object", "created_at", "upload_id"} and part["object"] == "upload.part"

    answer = complete(producer, upload["id"], ids)

    assert answer.status == 200, answer
    done = answer.body
    whole = b"".join(PARTS)
    assert done["status"] == "completed" and done["file"]["id"].startswith("file-")
    assert done["file"] | {"id": "x", "created_at": 0} == {
        "id": "x",
        "object": "file",
        "bytes": len(whole),
        "created_at": 0,
        "filename": "big.jsonl",
        "purpose": "batch",
        "status": "processed",
        "status_details": None,
    }
    stored = s3.get_object(Bucket=BUCKET, Key=file_object_key(done["file"]["id"]))
    assert stored["Body"].read() == whole  # byte for byte: the cut "é" is whole again
    assert stored["ContentType"] == "text/jsonl"
    assert call("GET", f"/v1/files/{done['file']['id']}", None, producer).body == done["file"]
    listed = call("GET", "/v1/files", None, producer).body["data"]
    assert [f["id"] for f in listed] == [done["file"]["id"]]


def test_a_retried_complete_answers_the_same_file_and_makes_no_other(producer: Caller):
    upload, ids = uploaded_in_parts(producer, PARTS)
    first = complete(producer, upload["id"], ids).body

    again = complete(producer, upload["id"], ids)

    assert again.status == 200 and again.body == first
    assert [f["id"] for f in call("GET", "/v1/files", None, producer).body["data"]] == [first["file"]["id"]]


def test_a_complete_whose_answer_was_lost_after_s3_joined_the_parts_makes_one_file(
    producer: Caller, store: DynamoStore, monkeypatch: pytest.MonkeyPatch
):
    upload, ids = uploaded_in_parts(producer, PARTS)

    def die(*args, **kwargs):
        raise ConnectionError("the function died after S3 completed")

    monkeypatch.setattr(type(store), "put_file", die)
    assert complete(producer, upload["id"], ids).status == 500
    monkeypatch.undo()

    done = complete(producer, upload["id"], ids)

    assert done.status == 200, done
    assert done.body["status"] == "completed" and done.body["file"]["bytes"] == sum(map(len, PARTS))
    assert [f["id"] for f in call("GET", "/v1/files", None, producer).body["data"]] == [done.body["file"]["id"]]


def test_a_completed_upload_feeds_a_batch_like_any_file(producer: Caller, store: DynamoStore, clock: ManualClock, s3):
    lines = b"".join(
        b'{"custom_id": "r%d", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}\n' % i
        for i in range(40)
    )
    upload, ids = uploaded_in_parts(producer, [lines[:MIN_PART], lines[MIN_PART:]])
    file_id = complete(producer, upload["id"], ids).body["file"]["id"]

    assert content_of(producer, file_id) == lines
    files = FileService(store, FileObjects(s3, BUCKET), clock)
    app.dependency_overrides[get_batch_service] = lambda: BatchService(store, files, clock, NoStarter())
    try:
        batch = call("POST", "/v1/batches", {"input_file_id": file_id, "endpoint": "/v1/chat/completions"}, producer)
    finally:
        app.dependency_overrides.pop(get_batch_service, None)
    assert batch.status == 200 and batch.body["input_file_id"] == file_id, batch


def test_md5_is_checked_before_the_file_exists(producer: Caller):
    upload, ids = uploaded_in_parts(producer, PARTS)
    good = hashlib.md5(b"".join(PARTS)).hexdigest()

    assert_error(complete(producer, upload["id"], ids, md5="0" * 32), 400, "md5")
    assert call("GET", "/v1/files", None, producer).body["data"] == []
    assert_error(complete(producer, upload["id"], ids, md5=good), 409, "cancelled")

    other, other_ids = uploaded_in_parts(producer, PARTS)
    assert complete(producer, other["id"], other_ids, md5=good.upper()).body["status"] == "completed"


# --- the rules, each a 4xx naming its field -----------------------------------------------------


@pytest.mark.parametrize(
    "fields, word",
    [
        ({"bytes": MAX_UPLOAD_BYTES + 1}, "bytes"),
        ({"bytes": 0}, "bytes"),
        ({"bytes": "12"}, "bytes"),
        ({"purpose": "fine-tune"}, "purpose"),
        ({"filename": ""}, "filename"),
        ({"mime_type": ""}, "mime_type"),
    ],
)
def test_create_refuses_bad_fields_naming_them(producer: Caller, fields: dict, word: str):
    assert_error(create(producer, 100, **fields), 400, word)


def test_a_worker_cannot_upload(worker: Caller):
    assert_error(create(worker, 100), 403, "producer")


def test_parts_beyond_the_declared_bytes_are_refused(producer: Caller):
    upload = created(producer, MIN_PART + 10)
    part_id(producer, upload["id"], b"x" * MIN_PART)

    assert_error(add_part(producer, upload["id"], b"y" * 11), 400, "data", str(MIN_PART + 10))
    assert_error(add_part(producer, upload["id"], b""), 400, "data")
    assert_error(add_part(producer, created(producer, 5)["id"], b"123456"), 400, "data")


def test_a_part_over_10_mb_is_413(producer: Caller, services: UploadService):
    upload = created(producer, MAX_UPLOAD_BYTES)

    assert_error(add_part(producer, upload["id"], b"x" * (10 * 1024 * 1024 + 1)), 413, "data", "10 MB")


def test_complete_refuses_bytes_that_differ_from_the_declared(producer: Caller):
    upload = created(producer, 2 * MIN_PART)
    ids = [part_id(producer, upload["id"], b"x" * MIN_PART)]

    assert_error(complete(producer, upload["id"], ids), 400, "bytes", str(MIN_PART), str(2 * MIN_PART))
    assert created_status(producer, upload["id"]) == "pending"


def created_status(caller: Caller, upload_id: str) -> str:
    """An upload's status, as cancel-free as possible: a complete with no part answers 400 while
    it is pending, 409 naming the status otherwise."""
    answer = complete(caller, upload_id, ["part_none"])
    return "pending" if answer.status == 400 else answer.body["message"].split(" is ")[1].split(";")[0]


def test_complete_needs_every_part_once_in_the_order_added(producer: Caller):
    upload, ids = uploaded_in_parts(producer, [b"a" * MIN_PART, b"b" * MIN_PART])
    _, foreign = uploaded_in_parts(producer, [b"c" * MIN_PART])

    assert_error(complete(producer, upload["id"], [ids[0], foreign[0]]), 400, "part_ids", foreign[0])
    assert_error(complete(producer, upload["id"], [ids[0], ids[0]]), 400, "part_ids", "once, in the order")
    assert_error(complete(producer, upload["id"], [ids[1], ids[0]]), 400, "part_ids", "order")
    assert_error(complete(producer, upload["id"], [ids[0]]), 400, "part_ids", "every part")
    assert_error(complete(producer, upload["id"], []), 400, "part_ids")
    assert complete(producer, upload["id"], ids).status == 200


def test_parts_under_s3s_minimum_are_held_back_and_joined_into_s3_parts_of_at_least_it(
    producer: Caller, store: DynamoStore, s3
):
    parts = [bytes([65 + i]) * 300 for i in range(12)]  # 3,600 bytes in parts of 300
    upload, ids = uploaded_in_parts(producer, parts)
    info = store.get_upload(upload["id"])
    key = file_object_key(info.file_id)
    sizes = [p["Size"] for p in s3.list_parts(Bucket=BUCKET, Key=key, UploadId=info.s3_upload_id)["Parts"]]
    assert sizes == [1200, 1200, 1200][: len(sizes)] and len(sizes) == 3  # 4 x 300 = the first >= 1,024

    done = complete(producer, upload["id"], ids).body

    assert content_of(producer, done["file"]["id"]) == b"".join(parts)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="uploads/").get("KeyCount") == 0  # held parts dropped


def test_a_part_racing_another_is_409_and_leaves_nothing_in_the_file(
    producer: Caller, store: DynamoStore, monkeypatch: pytest.MonkeyPatch
):
    upload = created(producer, 600)
    first = part_id(producer, upload["id"], b"a" * 300)
    stale = store.get_upload(upload["id"])
    second = part_id(producer, upload["id"], b"b" * 300)
    monkeypatch.setattr(type(store), "get_upload", lambda self, upload_id: stale)  # read before `second` saved

    assert_error(add_part(producer, upload["id"], b"c" * 300), 409, "at the same time")
    monkeypatch.undo()

    done = complete(producer, upload["id"], [first, second]).body
    assert content_of(producer, done["file"]["id"]) == b"a" * 300 + b"b" * 300


# --- cancel, expiry, ownership ------------------------------------------------------------------


def test_cancel_drops_the_parts_and_ends_the_upload(producer: Caller, s3):
    upload, ids = uploaded_in_parts(producer, PARTS)

    answer = call("POST", f"/v1/uploads/{upload['id']}/cancel", None, producer)

    assert answer.status == 200 and answer.body["status"] == "cancelled" and answer.body["file"] is None
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert call("POST", f"/v1/uploads/{upload['id']}/cancel", None, producer).body["status"] == "cancelled"
    assert_error(complete(producer, upload["id"], ids), 409, "cancelled")
    assert_error(add_part(producer, upload["id"], b"more"), 409, "cancelled")


def test_a_completed_upload_cannot_be_cancelled(producer: Caller):
    upload, ids = uploaded_in_parts(producer, PARTS)
    complete(producer, upload["id"], ids)

    assert_error(call("POST", f"/v1/uploads/{upload['id']}/cancel", None, producer), 409, "completed")


def test_an_upload_not_completed_within_the_hour_is_expired_and_its_parts_dropped(
    producer: Caller, clock: ManualClock, s3
):
    upload, ids = uploaded_in_parts(producer, PARTS)
    clock.advance(seconds=UPLOAD_SECONDS)

    assert_error(add_part(producer, upload["id"], b"late"), 409, "expired")
    assert_error(complete(producer, upload["id"], ids), 409, "expired")
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert call("GET", "/v1/files", None, producer).body["data"] == []


def test_another_key_gets_404_an_admin_may_complete(producer: Caller, admin: Caller):
    upload, ids = uploaded_in_parts(producer, PARTS)
    other = Caller("ak-producer-0002", "producer")

    assert_error(add_part(other, upload["id"], b"x"), 404, upload["id"])
    assert_error(complete(other, upload["id"], ids), 404, upload["id"])
    assert_error(call("POST", f"/v1/uploads/{upload['id']}/cancel", None, other), 404, upload["id"])
    done = complete(admin, upload["id"], ids).body
    assert done["status"] == "completed"
    assert call("GET", f"/v1/files/{done['file']['id']}", None, producer).body == done["file"]
    assert_error(call("GET", f"/v1/files/{done['file']['id']}", None, other), 404)


def test_an_unknown_upload_is_404(producer: Caller):
    assert_error(add_part(producer, "upload_nope", b"x"), 404, "upload_nope")
    assert_error(complete(producer, "upload_nope", ["part_x"]), 404, "upload_nope")


def test_a_part_must_be_multipart_form_data_with_a_data_field(producer: Caller):
    upload = created(producer, 10)
    path = f"/v1/uploads/{upload['id']}/parts"

    assert_error(call("POST", path, {"data": "x"}, producer), 415, "multipart/form-data")
    content_type, text = multipart({"file": ("blob", b"x")})
    assert_error(call("POST", path, text, producer, {"Content-Type": content_type}), 400, "data")


def test_the_openapi_document_lists_the_upload_routes():
    paths = call("GET", "/openapi.json").body["paths"]

    assert "post" in paths["/v1/uploads"]
    for action in ("parts", "complete", "cancel"):
        assert "post" in paths[f"/v1/uploads/{{upload_id}}/{action}"], sorted(paths)
    assert "UploadCompleteRequest" in str(paths["/v1/uploads/{upload_id}/complete"]["post"]["requestBody"])
    form = paths["/v1/uploads/{upload_id}/parts"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert form["schema"]["required"] == ["data"]
