"""Run as a program by bench/coldstart.py, in a fresh interpreter with one function's environment:
the CPU and wall time of importing its handler module, then of its first invocation.

    python -c "<this file's text>" HANDLER_MODULE KIND

The first invocation makes the DynamoDB requests a real one makes (a take, a key lookup, the
sweeper's and the scheduled jobs' queries, a stream batch's counters), so work moved from the
import to the first call still counts: botocore's client is created, a request built, signed
and parsed. Its HTTP sends are answered in-process by a `before-send` hook with empty answers.
The hook is installed after the import and inside the first call's timing, so it neither
imports botocore early nor hides what the import left for later.

Only the standard library and what the function itself imports are on the path here: this file
does not import the bench or the tests.
"""

import importlib
import json
import sys
import time

# An empty answer per DynamoDB operation: nothing found, every write accepted.
EMPTY_ANSWERS = {
    "Query": {"Items": [], "Count": 0, "ScannedCount": 0},
    "Scan": {"Items": [], "Count": 0, "ScannedCount": 0},
    "GetItem": {},
    "BatchGetItem": {"Responses": {}, "UnprocessedKeys": {}},
}


class LambdaContext:
    function_name = "taskq-coldstart"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:taskq-coldstart"
    memory_limit_in_mb = 512
    aws_request_id = "6f5c2d1e-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/taskq-coldstart"
    log_stream_name = "2026/12/03/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def answer_dynamodb_in_process() -> None:
    """Every client botocore creates from now on gets its HTTP sends answered here."""
    from botocore.awsrequest import AWSResponse
    from botocore.session import Session

    class Body:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def stream(self, **_):
            yield self.data

    def before_send(request, **_):
        operation = request.headers["X-Amz-Target"].decode().split(".")[-1]
        body = json.dumps(EMPTY_ANSWERS.get(operation, {})).encode()
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, Body(body))

    create_client = Session.create_client

    def create_answered_client(self, *args, **kwargs):
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("before-send.dynamodb", before_send)
        return client

    Session.create_client = create_answered_client


def api_take_event() -> dict:
    """POST /v1/queue/take by an authorized worker, as API Gateway hands it over."""
    return {
        "resource": "/{proxy+}",
        "path": "/v1/queue/take",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "Authorization": "Bearer tq_live_coldstart"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": {"proxy": "v1/queue/take"},
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": "POST",
            "path": "/prod/v1/queue/take",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "authorizer": {"ak": "ak-coldstart", "role": "worker", "queues": '["*"]'},
        },
        "body": json.dumps({"queues": ["coldstart:0"], "strategy": "fifo", "size": 1, "process_timeout": 60}),
        "isBase64Encoded": False,
    }


def authorizer_event() -> dict:
    """A well-formed key that no record holds: the lookup runs and finds nothing."""
    return {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/POST/v1/queue/take",
        "headers": {"Authorization": "Bearer tq_live_" + "0" * 40},
    }


def stream_event() -> dict:
    """One task put (an INSERT of a waiting task): its queue's counters are written."""
    image = {"task_id": {"S": "TASK-1"}, "queue": {"S": "coldstart"}, "level": {"N": "0"}, "status": {"S": "waiting"}}
    record = {
        "eventID": "event-1",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {"SequenceNumber": "1", "NewImage": image, "Keys": {"task_id": {"S": "TASK-1"}}},
    }
    return {"Records": [record]}


def invoke(handler, kind: str):
    context = LambdaContext()
    if kind == "api":
        answer = handler(api_take_event(), context)
        assert answer["statusCode"] < 500, answer
    elif kind == "authorizer":
        try:
            handler(authorizer_event(), context)
        except Exception as e:  # API Gateway's contract: this exact message means 401
            assert str(e) == "Unauthorized", e
        else:
            raise AssertionError("an unknown key was authorized")
    elif kind == "dispatcher_stream":
        handler(stream_event(), context)
    else:  # the sweeper and the scheduled jobs: an EventBridge event they do not read
        handler({}, context)


def main() -> None:
    module_name, kind = sys.argv[1], sys.argv[2]
    wall, cpu = time.perf_counter(), time.process_time()
    module = importlib.import_module(module_name)
    import_wall, import_cpu = time.perf_counter() - wall, time.process_time() - cpu
    answer_dynamodb_in_process()
    invoke(module.lambda_handler, kind)
    first_wall, first_cpu = time.perf_counter() - wall, time.process_time() - cpu
    ms = {"import_wall": import_wall, "import_cpu": import_cpu, "first_wall": first_wall, "first_cpu": first_cpu}
    # The last line of stdout: the handler's own log lines come before it.
    print(json.dumps({k: v * 1000 for k, v in ms.items()}))


if __name__ == "__main__":
    main()
