"""What put-batch sends to DynamoDB (docs/design.md "Cost per call"): one transaction per 100
writes, cut earlier where DynamoDB's 4 MB per transaction would be passed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
from apigw import Caller, call
from steps import CHAT, register

from taskq.store.put_batch import MAX_TRANSACTION_BYTES

TRANSACTION_LIMIT = 4 * 1024 * 1024  # DynamoDB's, on the items; the request's JSON is larger still


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, "test-queue")


@dataclass
class Sent:
    operations: Counter = field(default_factory=Counter)
    transaction_bytes: list[int] = field(default_factory=list)  # each transaction's request JSON

    def clear(self) -> None:
        self.operations.clear()
        self.transaction_bytes.clear()


@pytest.fixture
def sent(dynamodb) -> Sent:
    """What the store sends, counted where botocore sends it."""
    record = Sent()

    def before_send(request, event_name: str, **_) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        record.operations[operation] += 1
        if operation == "TransactWriteItems":
            record.transaction_bytes.append(len(request.body))

    dynamodb.meta.events.register_first("before-send.dynamodb", before_send, unique_id="put-batch-cost")
    yield record
    dynamodb.meta.events.unregister("before-send.dynamodb", unique_id="put-batch-cost")


def item(n: int, key: bool = False, padding: int = 0) -> dict:
    body = {"queue": "test-queue", "endpoint": CHAT, "data": {"n": n, "padding": "x" * padding}}
    return body | ({"idempotency_key": f"k-{n}"} if key else {})


def put_batch(producer: Caller, tasks: list[dict]) -> list[str]:
    answer = call("POST", "/v1/queue/put-batch", {"tasks": tasks}, producer)
    assert answer.status == 200
    return [entry["task_id"] for entry in answer.body["data"]]


def test_100_tasks_are_one_transaction(producer: Caller, sent: Sent) -> None:
    put_batch(producer, [item(1)])  # the registration is read once per instance
    sent.clear()

    assert len(put_batch(producer, [item(n) for n in range(100)])) == 100

    assert sent.operations == Counter({"TransactWriteItems": 1})


def test_100_keyed_tasks_are_two_transactions(producer: Caller, sent: Sent) -> None:
    put_batch(producer, [item(1)])
    sent.clear()

    assert len(put_batch(producer, [item(n, key=True) for n in range(100)])) == 100

    assert sent.operations == Counter({"TransactWriteItems": 2})


def test_large_payloads_are_cut_below_4_mb(producer: Caller, sent: Sent) -> None:
    put_batch(producer, [item(1)])
    sent.clear()

    ids = put_batch(producer, [item(n, padding=200 * 1024) for n in range(40)])  # about 8 MB of data

    assert len(set(ids)) == 40
    assert sent.operations == Counter({"TransactWriteItems": 3})
    assert max(sent.transaction_bytes) <= MAX_TRANSACTION_BYTES + 4096 < TRANSACTION_LIMIT
