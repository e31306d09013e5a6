"""The fault-injection module itself (tests/faults.py), on moto in-process and on dynalite: each
kind of fault does what it says, and a plan replays from its seed."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws

from tests.faults import FaultPlan, Kind, Scripted, without_backoff

STANDARD = Config(retries={"mode": "standard", "total_max_attempts": 3})
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


class Backend:
    """One table with a string key `pk` on a backend; clients with or without SDK retries."""

    def __init__(self, endpoint: str | None) -> None:
        self.endpoint = endpoint
        self.table = f"faults-{uuid.uuid4().hex[:8]}"
        admin = self.client(STANDARD)
        admin.create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        admin.get_waiter("table_exists").wait(TableName=self.table, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})

    def client(self, config: Config) -> Any:
        client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=self.endpoint, config=config)
        return without_backoff(client)

    def item(self, pk: str) -> dict[str, Any] | None:
        return (
            self.client(STANDARD).get_item(TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")
        )


@pytest.fixture(params=["moto", "dynalite"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "moto":
        with mock_aws():
            yield Backend(None)
    else:
        yield Backend(request.getfixturevalue("dynalite_endpoint"))


def put(client: Any, backend: Backend, pk: str, **extra: Any) -> dict[str, Any]:
    return client.put_item(TableName=backend.table, Item={"pk": {"S": pk}}, **extra)


def add_one(client: Any, backend: Backend, pk: str) -> None:
    client.update_item(
        TableName=backend.table,
        Key={"pk": {"S": pk}},
        UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )


@pytest.mark.parametrize("kind", [Kind.THROTTLE, Kind.INTERNAL])
def test_a_refused_request_has_no_effect_and_the_sdk_retries_it(backend: Backend, kind: Kind) -> None:
    # Given a plan refusing the first UpdateItem
    plan = FaultPlan(script=[Scripted("UpdateItem", 1, kind)])
    client = plan.attach(backend.client(STANDARD))
    # When the caller adds one, with SDK retries on
    add_one(client, backend, "a")
    # Then the retry applied it exactly once, and the fault is logged
    assert backend.item("a")["n"] == {"N": "1"}
    assert [(f.operation, f.nth, f.kind) for f in plan.injected] == [("UpdateItem", 1, kind)]


REFUSALS = [(Kind.THROTTLE, "ThrottlingException"), (Kind.INTERNAL, "InternalServerError")]


@pytest.mark.parametrize(("kind", "code"), REFUSALS)
def test_without_retries_the_caller_sees_the_refusal(backend: Backend, kind: Kind, code: str) -> None:
    plan = FaultPlan(script=[Scripted("PutItem", 1, kind)])
    client = plan.attach(backend.client(NO_RETRIES))
    with pytest.raises(ClientError) as refused:
        put(client, backend, "b")
    assert refused.value.response["Error"]["Code"] == code
    assert backend.item("b") is None


def test_a_transaction_conflict_cancels_the_whole_transaction(backend: Backend) -> None:
    # Given a plan answering the first TransactWriteItems with a TransactionConflict
    plan = FaultPlan(script=[Scripted("TransactWriteItems", 1, Kind.CONFLICT)])
    client = plan.attach(backend.client(NO_RETRIES))
    # When a two-item transaction is sent (dynalite has no transactions: it never sees this one)
    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(
            TransactItems=[{"Put": {"TableName": backend.table, "Item": {"pk": {"S": pk}}}} for pk in ("c1", "c2")]
        )
    # Then it is cancelled with one TransactionConflict reason per DynamoDB's format, nothing written
    error = cancelled.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in error["CancellationReasons"]] == ["TransactionConflict", "None"]
    assert backend.item("c1") is None
    assert backend.item("c2") is None


def test_a_lost_answer_took_effect_and_the_sdk_sends_it_again(backend: Backend) -> None:
    # Given a plan losing the answer of the first UpdateItem
    plan = FaultPlan(script=[Scripted("UpdateItem", 1, Kind.LOST)])
    client = plan.attach(backend.client(STANDARD))
    # When the caller adds one, with SDK retries on
    add_one(client, backend, "d")
    # Then the first request took effect and botocore's retry applied it a second time
    assert backend.item("d")["n"] == {"N": "2"}
    assert plan.injected[0].kind is Kind.LOST


def test_a_conditional_put_whose_answer_was_lost_is_stored_once_and_its_retry_fails(backend: Backend) -> None:
    plan = FaultPlan(script=[Scripted("PutItem", 1, Kind.LOST)])
    client = plan.attach(backend.client(STANDARD))
    with pytest.raises(ClientError) as retried:
        put(client, backend, "e", ConditionExpression="attribute_not_exists(pk)")
    # the item is there (the first request), and the caller sees only its retry's failed condition
    assert retried.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert backend.item("e") == {"pk": {"S": "e"}}


def test_without_retries_a_lost_answer_is_a_read_timeout_after_the_effect(backend: Backend) -> None:
    plan = FaultPlan(script=[Scripted("PutItem", 1, Kind.LOST)])
    client = plan.attach(backend.client(NO_RETRIES))
    with pytest.raises(ReadTimeoutError):
        put(client, backend, "f")
    assert backend.item("f") == {"pk": {"S": "f"}}


def test_a_delayed_request_runs_the_delay_first_then_takes_effect(backend: Backend) -> None:
    delayed: list[str] = []
    plan = FaultPlan(script=[Scripted("PutItem", 1, Kind.DELAY)], delay=delayed.append)
    client = plan.attach(backend.client(NO_RETRIES))
    put(client, backend, "g")
    assert delayed == ["PutItem"]
    assert backend.item("g") == {"pk": {"S": "g"}}


def test_a_seeded_plan_replays_the_same_faults(backend: Backend) -> None:
    rates = {Kind.THROTTLE: 0.2, Kind.LOST: 0.2, Kind.DELAY: 0.1}

    def run(seed: int) -> list[tuple[int, str, Kind]]:
        plan = FaultPlan(seed=seed, rates=rates, delay=lambda _: None)
        client = plan.attach(backend.client(STANDARD))
        for i in range(20):
            with contextlib.suppress(ClientError, ReadTimeoutError):  # a call may end in its faults
                add_one(client, backend, f"seed-{seed}-{i}")
        return [(f.index, f.operation, f.kind) for f in plan.injected]

    first = run(7)
    assert first, "a 20-request run at these rates injected nothing"
    assert run(7) == first
    assert run(8) != first


def test_rates_apply_only_to_the_operations_named(backend: Backend) -> None:
    plan = FaultPlan(seed=1, rates={Kind.THROTTLE: 1.0}, operations={"GetItem"})
    client = plan.attach(backend.client(NO_RETRIES))
    put(client, backend, "h")
    with pytest.raises(ClientError):
        client.get_item(TableName=backend.table, Key={"pk": {"S": "h"}})
    assert [f.operation for f in plan.injected] == ["GetItem"]
