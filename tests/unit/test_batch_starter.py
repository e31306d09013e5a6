"""Starting the batch function (taskq/store/invoke.py): an asynchronous invocation whose failure
never fails the create or cancel that asked (the batch is on the worklist; the schedule starts it)."""

from __future__ import annotations

import json

import botocore.session
from botocore.stub import Stubber

from taskq.store.invoke import LambdaStarter


def lambda_client():
    return botocore.session.get_session().create_client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_it_invokes_the_function_asynchronously_with_the_batch_id():
    client = lambda_client()
    with Stubber(client) as stub:
        expected = {
            "FunctionName": "stack-batches",
            "InvocationType": "Event",
            "Payload": json.dumps({"batch_id": "BATCH-1"}).encode(),
        }
        stub.add_response("invoke", {"StatusCode": 202}, expected)
        LambdaStarter(client, "stack-batches").start("BATCH-1")
        stub.assert_no_pending_responses()


def test_a_failed_invocation_is_logged_not_raised(caplog):
    client = lambda_client()
    with Stubber(client) as stub:
        stub.add_client_error("invoke", service_error_code="TooManyRequestsException", http_status_code=429)
        LambdaStarter(client, "stack-batches").start("BATCH-1")
    assert "BATCH-1" in caplog.text
