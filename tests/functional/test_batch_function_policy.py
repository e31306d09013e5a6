"""Least privilege for the BatchFunction (docs/security.md): its policy in template.yaml grants
exactly the actions, on exactly the resources, that its code calls. The function's whole path
runs here — validate, a fan-out out of time that starts the next run, fan-out, settle, finalize
with a result stored apart and an output written in parts whose first part fails once (the
upload aborted), a cancel — with a botocore hook recording every request its clients
send; a transaction's items count as their own actions, as IAM authorizes them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from apigw import Caller, call
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from files_support import BUCKET, create_bucket
from steps import complete, register, take

from taskq.batch_runner import BatchRunner, run_event
from taskq.batches import BatchService
from taskq.clock import ManualClock
from taskq.files import FileService
from taskq.models import Principal, Role
from taskq.store import DynamoStore, FileObjects
from taskq.store.invoke import LambdaStarter
from taskq.store.transitions import INLINE_RESULT_BYTES
from taskq_api.app import app
from taskq_api.dependencies import get_batch_service, get_file_service
from taskq_local.template import load_template
from tests.conftest import TABLES

CHAT = "/v1/chat/completions"
FUNCTION = "taskq-batches"  # BATCH_FUNCTION: the function's own name
FAR = 10**15
OUTPUT_PART = 16 * 1024  # the finished batch's output (a 64 KiB result in it) takes several parts
TABLE_RESOURCES = {
    TABLES.tasks: "TasksTable",
    TABLES.control: "ControlTable",
    TABLES.results: "ResultsTable",
    TABLES.events: "EventsTable",
}
ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}

# IAM authorizes a multipart upload's steps with s3:PutObject (only its abort has an action of its
# own): the S3 user guide, "Multipart upload API and permissions".
S3_IAM_ACTIONS = {name: "PutObject" for name in ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")}


class Recorder:
    """(action, resource as template.yaml names it) of each request, while `on`."""

    def __init__(self) -> None:
        self.on = False
        self.used: set[tuple[str, str]] = set()

    def attach(self, client: Any) -> Any:
        client.meta.events.register_first("before-parameter-build.*.*", self._before_call)
        return client

    @contextmanager
    def recording(self) -> Iterator[None]:
        self.on = True
        try:
            yield
        finally:
            self.on = False

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if not self.on:
            return
        service = model.service_model.service_name
        if service == "dynamodb":
            for action, table, index in _dynamodb_actions(model.name, params):
                where = f"{TABLE_RESOURCES[table]}.Arn"
                self.used.add((f"dynamodb:{action}", f"${{{where}}}/index/{index}" if index else where))
        elif service == "s3":
            assert params["Key"].startswith("files/"), params
            action = S3_IAM_ACTIONS.get(model.name, model.name)
            self.used.add((f"s3:{action}", "${FilesBucket.Arn}/files/*"))
        elif service == "lambda":
            assert params["FunctionName"] == FUNCTION, params
            self.used.add(("lambda:InvokeFunction", "itself"))
        else:
            raise AssertionError(f"unexpected service {service}")


def _dynamodb_actions(operation: str, params: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    if operation == "TransactWriteItems":
        return [
            (ITEM_ACTIONS[kind], op["TableName"], None) for item in params["TransactItems"] for kind, op in item.items()
        ]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(operation, table, None) for table in params["RequestItems"]]
    return [(operation, params["TableName"], params.get("IndexName"))]


def granted() -> set[tuple[str, str]]:
    properties = load_template()["Resources"]["BatchFunction"]["Properties"]
    own_name = properties["Environment"]["Variables"]["BATCH_FUNCTION"]
    grants = set()
    for policy in properties["Policies"]:
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow"
            resource = statement["Resource"]
            if isinstance(resource, str) and resource.endswith(f":function:{own_name}"):
                resource = "itself"  # the function's own ARN, by name (no circular reference)
            for action in statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]:
                grants.add((action, resource))
    return grants


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def objects(dynamodb: Any, recorder: Recorder) -> FileObjects:
    s3 = recorder.attach(boto3.client("s3", region_name="us-east-1"))
    create_bucket(s3)
    return FileObjects(s3, BUCKET)


@pytest.fixture
def starter(recorder: Recorder) -> Iterator[LambdaStarter]:
    client = recorder.attach(boto3.client("lambda", region_name="us-east-1"))
    with Stubber(client) as lambda_answers:
        lambda_answers.add_response("invoke", {"StatusCode": 202})
        yield LambdaStarter(client, FUNCTION)
        lambda_answers.assert_no_pending_responses()


@pytest.fixture(autouse=True)
def services(store: DynamoStore, clock: ManualClock, objects: FileObjects) -> Iterator[None]:
    files = FileService(store, objects, clock)
    batches = BatchService(store, files, clock, starter=_NoStarter())
    app.dependency_overrides[get_file_service] = lambda: files
    app.dependency_overrides[get_batch_service] = lambda: batches
    yield
    app.dependency_overrides.pop(get_file_service, None)
    app.dependency_overrides.pop(get_batch_service, None)


class _NoStarter:
    def start(self, batch_id: str) -> None:  # the API's start is the ApiFunction's, not under test
        pass


def new_batch(store: DynamoStore, objects: FileObjects, clock: ManualClock, caller: Caller, lines: int) -> str:
    content = "".join(
        json.dumps({"custom_id": f"r-{i}", "method": "POST", "url": CHAT, "body": {"model": "chat", "i": i}}) + "\n"
        for i in range(lines)
    ).encode()
    principal = Principal(caller.ak, Role(caller.role), caller.queues)
    file_id = FileService(store, objects, clock).upload(principal, "in.jsonl", "batch", content).file_id
    answer = call(
        "POST", "/v1/batches", {"input_file_id": file_id, "endpoint": CHAT, "completion_window": "24h"}, caller
    )
    assert answer.status == 200, answer
    return answer.body["id"]


def failing_once(put_part: Callable[..., Any], at_call: int) -> Callable[..., Any]:
    calls = []

    def put_part_or_fail(*args: Any) -> Any:
        calls.append(args)
        if len(calls) == at_call:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "UploadPart")
        return put_part(*args)

    return put_part_or_fail


def test_the_batch_function_is_granted_exactly_what_its_code_calls(
    store, objects, clock, producer, worker, admin, recorder, starter, monkeypatch
) -> None:
    register(admin, "chat")
    recorder.attach(store._db)
    runner = BatchRunner(store, objects, clock)

    def batch_function(event: dict[str, Any], until: int = FAR) -> None:
        with recorder.recording():
            run_event(runner, starter, event, until)

    finished = new_batch(store, objects, clock, producer, 3)
    batch_function({"batch_id": finished}, until=clock.now_ms())  # validates, out of time: starts itself
    batch_function({"batch_id": finished})  # fans out
    tasks = take(worker, ["chat:1"], 3)["chat:1"]
    assert len(tasks) == 3
    complete(worker, tasks[0]["task_id"], {"status_code": 200, "body": {"text": "x" * INLINE_RESULT_BYTES}})
    complete(worker, tasks[1]["task_id"], {"status_code": 500, "body": {}})
    complete(worker, tasks[2]["task_id"], {"status_code": 200, "body": {}})
    cancelled = new_batch(store, objects, clock, producer, 2)
    batch_function({"batch_id": cancelled})
    assert call("POST", f"/v1/batches/{cancelled}/cancel", None, producer).status == 200
    # The schedule's first try fails to send a part of the finished batch's output, written in
    # parts here (FileObjects.write): the upload it started is aborted. The next try finishes.
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", OUTPUT_PART)
    objects.part_bytes = OUTPUT_PART
    monkeypatch.setattr(objects, "put_part", failing_once(objects.put_part, at_call=1))
    with pytest.raises(ClientError):
        batch_function({}, until=clock.now_ms() + 1_000)
    clock.advance(seconds=2)  # the failed run's lease has ended
    batch_function({})  # the schedule: settles and finalizes one, cancels and finalizes the other

    for batch_id, status in ((finished, "completed"), (cancelled, "cancelled")):
        assert call("GET", f"/v1/batches/{batch_id}", None, producer).body["status"] == status
    assert recorder.used == granted()
