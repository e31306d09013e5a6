"""The embedded store's transactions (moto_state.transactions_roll_back_their_items): a cancelled
one leaves every item and the stream as they were, and none copies a whole table — moto's own
rollback deep-copies each table a transaction names, items and stream included, so a long-lived
server slowed down with every task it had seen (a thousand-task run took twelve minutes)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb import models as moto_models
from moto.dynamodb.models.table import Table

from taskq_local import moto_state
from tests.conftest import TABLES


def shard_length() -> int:
    return len(moto_state._tables()[TABLES.tasks].stream_shard.items)


def item(db: Any, task_id: str) -> dict[str, Any] | None:
    return db.get_item(TableName=TABLES.tasks, Key={"task_id": {"S": task_id}}, ConsistentRead=True).get("Item")


def test_a_cancelled_transaction_leaves_items_and_stream_as_they_were(local_moto) -> None:
    db = local_moto
    db.put_item(TableName=TABLES.tasks, Item={"task_id": {"S": "kept"}, "n": {"N": "1"}})
    before, length = item(db, "kept"), shard_length()
    with pytest.raises(ClientError) as cancelled:
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLES.tasks, "Item": {"task_id": {"S": "new"}}}},
                {
                    "Update": {
                        "TableName": TABLES.tasks,
                        "Key": {"task_id": {"S": "kept"}},
                        "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": TABLES.tasks,
                        "Key": {"task_id": {"S": "absent"}},
                        "ConditionExpression": "attribute_exists(task_id)",
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert (item(db, "new"), item(db, "kept"), shard_length()) == (None, before, length)
    # The table is the same object as before, so a stream reader's shard still grows.
    db.put_item(TableName=TABLES.tasks, Item={"task_id": {"S": "after"}})
    assert shard_length() == length + 1


def test_a_transaction_never_deep_copies_a_table(local_moto, monkeypatch: pytest.MonkeyPatch) -> None:
    db, copied = local_moto, []
    real = moto_models.copy.deepcopy

    def watched(value: Any, memo: Any = None) -> Any:
        copied.append(type(value))
        return real(value, memo)

    monkeypatch.setattr(moto_models.copy, "deepcopy", watched)
    for n in range(3):
        db.put_item(TableName=TABLES.tasks, Item={"task_id": {"S": f"t{n}"}})
    put_new = {"Put": {"TableName": TABLES.tasks, "Item": {"task_id": {"S": "t0"}}}}
    db.transact_write_items(TransactItems=[{"Put": {"TableName": TABLES.tasks, "Item": {"task_id": {"S": "t9"}}}}])
    with pytest.raises(ClientError):
        db.transact_write_items(TransactItems=[put_new, put_new])  # the same item twice: refused
    assert copied, "the watch saw no deep copy at all: it is not watching"
    assert Table not in copied
