"""The embedded store's index queries (moto_index.py): every Query the store makes answers
exactly what moto's own scan answers — items, pages, counts — after puts, updates that move an
item between index partitions or out of a sparse index, deletes, a cancelled transaction and a
journal replay; and a take's Query no longer reads every item of the table."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models.table import Table

from taskq.store.keys import BATCH_RUNS_PARTITION
from taskq_local import embedded, moto_index
from taskq_local.durable import DurableStore
from taskq_local.template import create_tables
from tests.conftest import LOGICAL_IDS, TABLES

QUEUES = ("a:1", "b:1", "c:0")
SHARDS = ("0", "1", "2")


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def s(value: str) -> dict[str, str]:
    return {"S": value}


# The key conditions the store sends (store/tasks.py find_ready, store/clears.py, store/base.py
# _due_items, store/batches.py), with and without Limit.
def store_queries() -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = []
    for queue in (*QUEUES, "absent:1"):
        ready = {"TableName": TABLES.tasks, "IndexName": "ReadyByQueue"}
        queries += [
            ready | {"KeyConditionExpression": "ready_queue = :q", "ExpressionAttributeValues": {":q": s(queue)}},
            ready
            | {
                "KeyConditionExpression": "ready_queue = :q AND start_time <= :b",
                "ExpressionAttributeValues": {":q": s(queue), ":b": n(150)},
                "FilterExpression": "expire_time > :now AND visible_time <= :now",
                "ProjectionExpression": "task_id, start_time, expire_time",
                "Limit": 7,
            }
            | {"ExpressionAttributeValues": {":q": s(queue), ":b": n(150), ":now": n(100)}},
            ready
            | {
                "KeyConditionExpression": "ready_queue = :q AND start_time BETWEEN :lo AND :hi",
                "ExpressionAttributeValues": {":q": s(queue), ":lo": n(40), ":hi": n(160)},
                "Limit": 5,
            },
            ready
            | {
                "KeyConditionExpression": "ready_queue = :q AND start_time > :lo",
                "ExpressionAttributeValues": {":q": s(queue), ":lo": n(50)},
                "Limit": 4,
            },
            ready
            | {
                "KeyConditionExpression": "ready_queue = :q AND start_time = :t",
                "ExpressionAttributeValues": {":q": s(queue), ":t": n(50)},
            },
            ready
            | {
                "KeyConditionExpression": "ready_queue = :q",
                "ExpressionAttributeValues": {":q": s(queue)},
                "ScanIndexForward": False,
                "Limit": 6,
            },
        ]
    for shard in SHARDS:
        queries.append(
            {
                "TableName": TABLES.tasks,
                "IndexName": "SweepDue",
                "KeyConditionExpression": "sweep_shard = :shard AND sweep_at <= :now",
                "ExpressionAttributeValues": {":shard": s(shard), ":now": n(120)},
                "Limit": 3,
            }
        )
    for pk in (BATCH_RUNS_PARTITION, "BATCHES#ak-1", "absent"):
        queries.append(
            {
                "TableName": TABLES.control,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": s(pk)},
                "Limit": 4,
                "ScanIndexForward": pk != "BATCHES#ak-1",
            }
        )
    return queries


def pages(db: Any, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of a query, as answered: items, counts, where the next page starts."""
    found, request = [], dict(query)
    while True:
        page = db.query(**request)
        found.append({k: page.get(k) for k in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def answers(db: Any) -> list[list[dict[str, Any]]]:
    return [pages(db, q) for q in store_queries()]


def assert_same_as_moto(db: Any, monkeypatch: pytest.MonkeyPatch) -> list[list[dict[str, Any]]]:
    indexed = answers(db)
    with monkeypatch.context() as scanning:
        scanning.setattr(moto_index, "_partition_candidates", lambda *_: None)  # moto's own scan
        scanned = answers(db)
    assert indexed == scanned
    assert sum(len(page["Items"]) for query in indexed for page in query) > 50  # the workload found items
    return indexed


def task(rng: random.Random, i: int) -> dict[str, Any]:
    item = {"task_id": s(f"t-{i:04}"), "expire_time": n(rng.randrange(50, 200)), "visible_time": n(rng.randrange(200))}
    if rng.random() < 0.8:  # waiting: in the ready index (start times repeat, so ties occur)
        item |= {"ready_queue": s(rng.choice(QUEUES)), "start_time": n(rng.randrange(200))}
    if rng.random() < 0.7:
        item |= {"sweep_shard": s(rng.choice(SHARDS)), "sweep_at": n(rng.randrange(200))}
    return item


def workload(db: Any, rng: random.Random, count: int) -> None:
    """Puts, overwriting puts, moving and removing updates, deletes, on both tables."""
    for i in range(count):
        db.put_item(TableName=TABLES.tasks, Item=task(rng, i))
    for pk in (BATCH_RUNS_PARTITION, "BATCHES#ak-1"):
        for i in range(15):
            db.put_item(TableName=TABLES.control, Item={"pk": s(pk), "sk": s(f"BATCH-{i:03}")})
    for _ in range(count):
        task_id = s(f"t-{rng.randrange(count):04}")
        move = rng.random()
        if move < 0.3:
            db.put_item(TableName=TABLES.tasks, Item=task(rng, int(task_id["S"][2:])))
        elif move < 0.55:
            db.update_item(
                TableName=TABLES.tasks,
                Key={"task_id": task_id},
                UpdateExpression="SET ready_queue = :q, start_time = :t",
                ExpressionAttributeValues={":q": s(rng.choice(QUEUES)), ":t": n(rng.randrange(200))},
            )
        elif move < 0.75:
            db.update_item(
                TableName=TABLES.tasks, Key={"task_id": task_id}, UpdateExpression="REMOVE ready_queue, sweep_shard"
            )
        elif move < 0.85:
            db.delete_item(TableName=TABLES.tasks, Key={"task_id": task_id})
        else:
            db.delete_item(
                TableName=TABLES.control, Key={"pk": s(BATCH_RUNS_PARTITION), "sk": s(f"BATCH-{rng.randrange(15):03}")}
            )


def test_index_queries_answer_as_moto_after_puts_moves_and_deletes(local_moto, monkeypatch) -> None:
    rng = random.Random(12)
    answers(local_moto)  # the indexes exist from here on: the workload's writes must keep them
    workload(local_moto, rng, 150)
    assert_same_as_moto(local_moto, monkeypatch)


def test_a_cancelled_transaction_leaves_the_indexes_as_the_items(local_moto, monkeypatch) -> None:
    db = local_moto
    workload(db, random.Random(7), 120)
    before = assert_same_as_moto(db, monkeypatch)
    with pytest.raises(ClientError) as cancelled:
        db.transact_write_items(
            TransactItems=[
                # moves one task to another queue, takes another out of the index, adds a third
                {
                    "Update": {
                        "TableName": TABLES.tasks,
                        "Key": {"task_id": s("t-0001")},
                        "UpdateExpression": "SET ready_queue = :q, start_time = :t",
                        "ExpressionAttributeValues": {":q": s("absent:1"), ":t": n(1)},
                    }
                },
                {
                    "Update": {
                        "TableName": TABLES.tasks,
                        "Key": {"task_id": s("t-0002")},
                        "UpdateExpression": "REMOVE ready_queue",
                    }
                },
                {
                    "Put": {
                        "TableName": TABLES.tasks,
                        "Item": {"task_id": s("new"), "ready_queue": s("a:1"), "start_time": n(0)},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": TABLES.tasks,
                        "Key": {"task_id": s("missing")},
                        "ConditionExpression": "attribute_exists(task_id)",
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert assert_same_as_moto(db, monkeypatch) == before


def test_a_journal_replay_rebuilds_what_the_indexes_answer(local_moto, monkeypatch, tmp_path: Path) -> None:
    db = local_moto
    store = DurableStore(tmp_path)
    store.open()
    embedded.install_recorder(store)
    workload(db, random.Random(3), 120)
    before = assert_same_as_moto(db, monkeypatch)
    store.close()
    embedded.install_recorder(None)

    for name in LOGICAL_IDS.values():  # a new process: the template's tables, empty
        db.delete_table(TableName=name)
    create_tables(db, LOGICAL_IDS)
    answers(db)  # indexes built on the empty tables: the replay's writes must fill them
    DurableStore(tmp_path).open()

    assert assert_same_as_moto(db, monkeypatch) == before


def test_a_take_query_reads_its_partition_head_not_the_whole_table(local_moto, monkeypatch) -> None:
    db = local_moto
    for start in range(0, 2000, 25):
        items = [
            {"task_id": s(f"t-{i:05}"), "ready_queue": s("big:1"), "start_time": n(i)} for i in range(start, start + 25)
        ]
        db.batch_write_item(RequestItems={TABLES.tasks: [{"PutRequest": {"Item": i}} for i in items]})
    looked_at: list[int] = []
    real_sort = Table.sorted_items

    def counted(self: Any, hash_attrs: Any, range_attrs: Any, items: list[Any]) -> list[Any]:
        looked_at.append(len(items))
        return real_sort(self, hash_attrs, range_attrs, items)

    monkeypatch.setattr(Table, "sorted_items", counted)
    page = db.query(
        TableName=TABLES.tasks,
        IndexName="ReadyByQueue",
        KeyConditionExpression="ready_queue = :q AND start_time <= :b",
        ExpressionAttributeValues={":q": s("big:1"), ":b": n(10_000)},
        Limit=10,
    )
    assert [i["task_id"]["S"] for i in page["Items"]] == [f"t-{i:05}" for i in range(10)]
    assert looked_at == [11]  # Limit + 1 candidates (moto sets LastEvaluatedKey on the 11th), not 2,000
