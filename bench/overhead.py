"""Handler overhead: CPU time per take(size=10) request in-process, the store's DynamoDB calls
answered from canned items (no network, no server).

Three layers, each measured alone:
- `handler`: the API function's `lambda_handler` on an API Gateway event, with the client the
  store uses replaced by canned answers: routing, validation, service, take, store code;
- `service`: `QueueService.take` alone, same canned client;
- `handler_with_botocore`: `handler` with a real botocore client whose HTTP sends are answered
  by a `before-send` hook, so botocore's request building and response parsing count too.
"""

from __future__ import annotations

import copy
import json
import os
import time
from typing import Any

from botocore.awsrequest import AWSResponse

from taskq.models import Principal, Role, Status, Task
from taskq.requests import TakeRequest
from taskq.store.codec import task_attributes, to_item
from taskq_local.processes import ROOT

from .server import client_for

SIZE = 10
CALLS = 1000
WARMUP = 100
QUEUE = "bench"
ENDPOINT = "/v1/chat/completions"
# What the API function's store reads from its environment (template.yaml sets it in AWS).
FUNCTION_ENV = {
    "TASKS_TABLE": "bench-tasks",
    "CONTROL_TABLE": "bench-control",
    "RESULTS_TABLE": "bench-results",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "taskq",
}


def _running_item(task_id: str) -> dict[str, Any]:
    now = int(time.time() * 1000)
    task = Task(task_id, "ak-bench-producer", QUEUE, 0, ENDPOINT, {"prompt": "canned"}, Status.RUNNING, now, now + 1)
    lease = {"lease_id": "LEASE-" + "0" * 32, "lease_expire_time": now + 600_000, "process_timeout": 600}
    return to_item(task_attributes(task) | lease)


class CannedDynamo:
    """Stands in for the DynamoDB client: every call answered from canned items."""

    def __init__(self) -> None:
        self.candidates = [
            to_item({"task_id": f"TASK-{1_700_000_000_000 + i:013d}-{i:016x}", "start_time": i, "expire_time": 2**42})
            for i in range(200)
        ]
        # Built once per task: the cost of making up an answer is not the code under measure.
        self.claimed = {c["task_id"]["S"]: _running_item(c["task_id"]["S"]) for c in self.candidates}

    def answer(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation == "BatchGetItem":
            # Answered per key, as DynamoDB does: the queue is registered, and neither cleared
            # nor locked (no CLEAR or LOCK item), the steady state a take meets.
            table, wanted = next(iter(request["RequestItems"].items()))
            queues = [key for key in wanted["Keys"] if key["pk"]["S"].startswith("QUEUE#")]
            return {"Responses": {table: [key | to_item({"endpoint": ENDPOINT}) for key in queues]}}
        if operation == "Query":
            return {"Items": self.candidates[: request["Limit"]], "Count": request["Limit"]}
        if operation == "UpdateItem":
            return {"Attributes": self.claimed[request["Key"]["task_id"]["S"]]}
        raise AssertionError(f"no canned answer for {operation}")

    def batch_get_item(self, **request: Any) -> dict[str, Any]:
        return self.answer("BatchGetItem", request)

    def query(self, **request: Any) -> dict[str, Any]:
        return self.answer("Query", request)

    def update_item(self, **request: Any) -> dict[str, Any]:
        return self.answer("UpdateItem", request)


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any):
        yield self.data


def canned_botocore_client(canned: CannedDynamo) -> Any:
    """A real client whose requests never leave the process: `before-send` answers them."""
    client = client_for("http://127.0.0.1:9")

    def before_send(request: Any, **_: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"].decode().split(".")[-1]
        body = json.dumps(canned.answer(operation, json.loads(request.body))).encode()
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Body(body))

    client.meta.events.register("before-send.dynamodb", before_send)
    return client


class LambdaContextStub:
    """What the handler and powertools' logger read from the Lambda context."""

    function_name = "taskq-ApiFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:taskq-ApiFunction"
    memory_limit_in_mb = 512
    aws_request_id = "6f5c2d1e-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/taskq-ApiFunction"
    log_stream_name = "2025/11/11/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def take_event() -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "take.json").read_text())
    body = {"queues": [f"{QUEUE}:0"], "strategy": "fifo", "size": SIZE, "process_timeout": 600}
    event["body"] = json.dumps(body)
    event["requestContext"]["authorizer"] |= {"role": "worker", "queues": '["*"]'}
    return event


def cpu_us_per_call(call: Any, calls: int = CALLS) -> dict[str, float]:
    for _ in range(WARMUP):
        call()
    cpu, wall = time.process_time_ns(), time.perf_counter_ns()
    for _ in range(calls):
        call()
    cpu, wall = time.process_time_ns() - cpu, time.perf_counter_ns() - wall
    return {"cpu_us": round(cpu / calls / 1000, 1), "wall_us": round(wall / calls / 1000, 1)}


def run(calls: int = CALLS) -> dict[str, Any]:
    os.environ.update(FUNCTION_ENV)
    from taskq_api import dependencies  # after the environment: the store reads it
    from taskq_api.app import lambda_handler

    canned = CannedDynamo()
    store, service = dependencies.get_store(), dependencies.get_service()
    event, context = take_event(), LambdaContextStub()
    events = [copy.deepcopy(event) for _ in range(calls + WARMUP)]

    def handler() -> None:
        answer = lambda_handler(events.pop(), context)
        assert answer["statusCode"] == 200 and len(json.loads(answer["body"])[f"{QUEUE}:0"]) == SIZE, answer

    principal = Principal("ak-bench-worker", Role.WORKER)
    request = TakeRequest(queues=[f"{QUEUE}:0"], size=SIZE, process_timeout=600)
    real_client = store._db
    try:
        store._db = canned
        result = {"handler": cpu_us_per_call(handler, calls)}
        result["service"] = cpu_us_per_call(lambda: service.take(principal, request), calls)
        store._db = canned_botocore_client(canned)
        events.extend(copy.deepcopy(event) for _ in range(calls + WARMUP))
        result["handler_with_botocore"] = cpu_us_per_call(handler, calls)
    finally:
        store._db = real_client
    return {"size": SIZE, "calls": calls, **result}
