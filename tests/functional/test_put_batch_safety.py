"""put-batch's idempotency keys (one per item, spec §3.13) and its writes under faults: a task is
written whole with its key's record or not at all, and a repeated batch creates nothing twice."""

from __future__ import annotations

import pytest
from apigw import Caller, call
from steps import CHAT, CHAT_DATA, register, take

from taskq.store import DynamoStore
from tests.faults import FaultPlan, Kind, Scripted, without_backoff

PATH = "/v1/queue/put-batch"


def item(n: int, key: str | None = None, **fields: object) -> dict:
    body = {"queue": "test-queue", "endpoint": CHAT, "data": CHAT_DATA | {"n": n}} | fields
    return body if key is None else body | {"idempotency_key": key}


def put_batch(caller: Caller, tasks: list):
    return call("POST", PATH, {"tasks": tasks}, caller)


def ids_of(answer) -> list[str | None]:
    assert answer.status == 200, answer
    return [entry.get("task_id") for entry in answer.body["data"]]


def waiting_ids(worker: Caller) -> list[str]:
    return [t["task_id"] for t in take(worker, ["test-queue:0"], 100).get("test-queue:0", [])]


def stored_tasks(dynamodb) -> list[dict]:
    return dynamodb.scan(TableName="taskq-tasks")["Items"]


def stored_records(dynamodb, scope: str) -> dict[str, str]:
    """Idempotency key -> the task id its record names."""
    items = dynamodb.scan(TableName="taskq-control")["Items"]
    return {i["sk"]["S"]: i["task_id"]["S"] for i in items if i["pk"]["S"] == f"IDEMPOTENCY#{scope}"}


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, "test-queue")


def test_a_repeated_batch_returns_the_first_ids_and_creates_nothing(producer: Caller, worker: Caller) -> None:
    batch = [item(n, f"order-{n}") for n in range(5)]
    first = ids_of(put_batch(producer, batch))

    assert ids_of(put_batch(producer, batch)) == first
    assert waiting_ids(worker) == first


def test_a_key_is_shared_with_the_single_puts_header(producer: Caller, worker: Caller) -> None:
    single = call("POST", "/v1/queue/put", item(1), producer, {"Idempotency-Key": "order-1"}).body["data"]

    assert ids_of(put_batch(producer, [item(1, "order-1"), item(2, "order-2")]))[0] == single
    batched = ids_of(put_batch(producer, [item(3, "order-3")]))[0]
    assert call("POST", "/v1/queue/put", item(3), producer, {"Idempotency-Key": "order-3"}).body["data"] == batched
    assert len(waiting_ids(worker)) == 3


def test_a_key_with_another_body_is_a_409_for_that_item_only(producer: Caller, worker: Caller) -> None:
    [first] = ids_of(put_batch(producer, [item(1, "order-1")]))

    answer = put_batch(producer, [item(2, "order-2"), item(99, "order-1"), item(3)])

    data = answer.body["data"]
    assert data[1]["error"]["code"] == 409
    assert data[1]["error"]["message"].startswith("Idempotency-Key:")
    assert sorted(waiting_ids(worker)) == sorted([first, data[0]["task_id"], data[2]["task_id"]])


def test_a_key_twice_in_one_batch_is_a_repeat_of_its_first_use(producer: Caller, worker: Caller) -> None:
    answer = put_batch(producer, [item(1, "order-1"), item(1, "order-1"), item(2, "order-1")])

    data = answer.body["data"]
    assert data[1] == data[0]
    assert data[2]["error"]["code"] == 409
    assert waiting_ids(worker) == [data[0]["task_id"]]


def test_keys_are_scoped_to_the_api_key(producer: Caller, worker: Caller) -> None:
    other = Caller("ak-producer-0002", "producer")

    mine, theirs = ids_of(put_batch(producer, [item(1, "k")])), ids_of(put_batch(other, [item(1, "k")]))

    assert mine != theirs
    assert len(waiting_ids(worker)) == 2


@pytest.mark.parametrize("key", ["", "k" * 129, 42])
def test_a_bad_key_is_a_400_naming_it(producer: Caller, worker: Caller, key: object) -> None:
    data = put_batch(producer, [item(1, key), item(2)]).body["data"]  # type: ignore[arg-type]

    assert data[0]["error"]["code"] == 400
    assert data[0]["error"]["message"].startswith("idempotency_key:")
    assert waiting_ids(worker) == [data[1]["task_id"]]


def test_a_batch_whose_answer_was_lost_is_stored_once(store: DynamoStore, dynamodb, producer: Caller) -> None:
    """The transaction commits, its answer is lost and botocore sends it again; moto (unlike
    DynamoDB) ignores the request token and cancels the second send: every task exists already."""
    plan = FaultPlan(script=[Scripted("TransactWriteItems", 1, Kind.LOST)])
    plan.attach(without_backoff(store._db))
    try:
        ids = ids_of(put_batch(producer, [item(n, None if n % 2 else f"order-{n}") for n in range(6)]))
    finally:
        plan.detach(store._db)

    assert [f.kind for f in plan.injected] == [Kind.LOST]
    assert None not in ids
    assert sorted(t["task_id"]["S"] for t in stored_tasks(dynamodb)) == sorted(ids)
    assert stored_records(dynamodb, producer.ak) == {f"order-{n}": ids[n] for n in (0, 2, 4)}


def test_a_failure_midway_leaves_whole_tasks_and_a_repeat_completes_the_batch(
    store: DynamoStore, dynamodb, producer: Caller, worker: Caller
) -> None:
    # Given 100 keyed items (200 writes: two transactions) whose second transaction fails for good
    batch = [item(n, f"order-{n}") for n in range(100)]
    plan = FaultPlan(script=[Scripted("TransactWriteItems", n, Kind.INTERNAL) for n in range(2, 30)])
    plan.attach(without_backoff(store._db))
    try:
        failed = put_batch(producer, batch)
    finally:
        plan.detach(store._db)
    assert failed.status == 500

    # Then what was written is whole: each task with its key's record, each record with its task
    tasks = {t["task_id"]["S"] for t in stored_tasks(dynamodb)}
    records = stored_records(dynamodb, producer.ak)
    assert 0 < len(tasks) < 100
    assert set(records.values()) == tasks

    # When the producer sends the same batch again, it completes it without a duplicate
    ids = ids_of(put_batch(producer, batch))
    assert len(set(ids)) == 100
    assert [ids[int(key.removeprefix("order-"))] for key in records] == list(records.values())
    assert sorted(waiting_ids(worker)) == sorted(ids)
    assert len(stored_tasks(dynamodb)) == 100


def test_a_conflicting_transaction_is_sent_again(store: DynamoStore, dynamodb, producer: Caller) -> None:
    """Another transaction holding one of the items cancels ours without a failed condition."""
    plan = FaultPlan(script=[Scripted("TransactWriteItems", 1, Kind.CONFLICT)])
    plan.attach(without_backoff(store._db))
    try:
        ids = ids_of(put_batch(producer, [item(1, "order-1"), item(2)]))
    finally:
        plan.detach(store._db)

    assert [f.kind for f in plan.injected] == [Kind.CONFLICT]
    assert sorted(t["task_id"]["S"] for t in stored_tasks(dynamodb)) == sorted(ids)
    assert stored_records(dynamodb, producer.ak) == {"order-1": ids[0]}
