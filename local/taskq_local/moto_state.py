"""What the local server does inside the embedded moto, beyond serving requests: keeping its
Tasks stream readable and bounded, and reading or restoring the state durable.py writes down.
Everything here touches moto's models, so it runs under STORE_LOCK (taken here, reentrant)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSPreparedRequest
from botocore.compat import HTTPHeaders

from .embedded import STORE_LOCK
from .moto_index import key_of, refresh

DYNAMODB_TARGET = "DynamoDB_20120810"


def _tables() -> dict[str, Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][_region()].tables


def _region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def operation_of(request: Any) -> str:
    """The DynamoDB operation a request to moto names ("PutItem"), "" for other services."""
    target = request.headers.get("X-Amz-Target") or ""
    target = target.decode() if isinstance(target, bytes) else target
    service, _, operation = target.partition(".")
    return operation if service == DYNAMODB_TARGET else ""


def deterministic_event_ids() -> None:
    """moto gives each stream record a random eventID; here it follows from the table and the
    sequence number, so the records a journal replay regenerates carry the eventIDs the
    dispatcher saw before the restart (the counters' replay markers are eventIDs)."""
    from moto.dynamodb.models import table as table_models

    record_class = table_models.StreamRecord
    if getattr(record_class, "taskq_deterministic", False):
        return
    create = record_class.__init__

    def create_deterministic(self: Any, table: Any, stream_type: str, event_name: str, old, new, seq: int) -> None:
        create(self, table, stream_type, event_name, old, new, seq)
        self.record["eventID"] = hashlib.sha256(f"{table.name}/{seq}".encode()).hexdigest()[:32]

    record_class.__init__ = create_deterministic
    record_class.taskq_deterministic = True


# --- the stream, kept from growing (the local server reads it with streams.StreamFeed) -------


def trim_moto_stream(table_name: str, through_sequence: str) -> None:
    """Drops a table's stream records up to `through_sequence` once they are handled, as
    DynamoDB trims records after 24 h: moto keeps every record (with both images) for the
    life of the process. Moving the shard's starting number keeps its numbering intact."""
    with STORE_LOCK:
        shard = _tables()[table_name].stream_shard
        if shard is None:
            return
        count = int(through_sequence) - shard.starting_sequence_number + 1
        if count > 0:
            del shard.items[:count]
            shard.starting_sequence_number += count


def forget_moto_shard_iterator(iterator_arn: str) -> None:
    """moto remembers every shard iterator it hands out; a reader polling several times a
    second would fill memory with used ones."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    with STORE_LOCK:
        dynamodbstreams_backends[DEFAULT_ACCOUNT_ID][_region()].shard_iterators.pop(iterator_arn, None)


# --- state for durable.py ----------------------------------------------------------------------


def stream_backlog() -> bool:
    """Whether any stream holds a record the dispatcher has not consumed yet."""
    return any(t.stream_shard is not None and t.stream_shard.items for t in _tables().values())


def stream_positions() -> dict[str, int]:
    """Each stream's next sequence number."""
    shards = {name: t.stream_shard for name, t in _tables().items() if t.stream_shard is not None}
    return {name: shard.starting_sequence_number + len(shard.items) for name, shard in shards.items()}


def restart_streams(positions: dict[str, int]) -> None:
    """Drops every stream record and numbers the next ones from `positions`: after a snapshot's
    PutItems, whose records were handled before the snapshot was taken."""
    tables = _tables()
    for name, position in positions.items():
        shard = tables[name].stream_shard if name in tables else None
        if shard is not None:
            shard.items.clear()
            shard.starting_sequence_number = position


def all_items() -> dict[str, list[dict[str, Any]]]:
    """Every table's items, in the request format (binary values base64-encoded)."""
    return {name: [item.to_json()["Attributes"] for item in t.all_items()] for name, t in _tables().items()}


def dynamodb_url() -> str:
    return f"https://dynamodb.{_region()}.amazonaws.com/"


@contextmanager
def transactions_without_rollback_copies() -> Iterator[None]:
    """For a replay: moto deep-copies every table a TransactWriteItems names, to roll back if it
    is cancelled — most of a replay's time. A journaled transaction succeeded, and succeeds
    again on the same state, so the tables are not copied (other deep copies, such as an
    item's old image, still are)."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    real = models.copy

    class TablesUncopied:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else real.deepcopy(value, memo)

    models.copy = TablesUncopied()  # type: ignore[assignment]
    try:
        yield
    finally:
        models.copy = real


def transactions_roll_back_their_items() -> None:
    """moto makes a TransactWriteItems undoable by deep-copying every table it names, items and
    stream records included, on every call: a cost that grows with the table and its history,
    so a long-lived server (or a thousand-task run) slows down with each task it has seen.
    Here a transaction copies only the items it names, and a cancelled one puts them back and
    cuts the streams back to their length before it: the same state moto's swap restores, at
    a cost that depends on the transaction alone. Runs under STORE_LOCK, as every request."""
    import copy

    from moto.dynamodb.models import DynamoDBBackend

    real = DynamoDBBackend.transact_write_items
    if getattr(real, "taskq_item_rollback", False):
        return

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []  # (table, hash key, range key, the item as it was or None)
        for entry in transact_items:
            op = next(iter(entry.values()), None)
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue  # moto refuses it before anything is written
            hash_key, range_key = key_of(table, op.get("Key") or op.get("Item") or {})
            if hash_key is None:
                continue
            saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        lengths = {id(t): len(t.stream_shard.items) for t, *_ in saved if t.stream_shard is not None}
        with transactions_without_rollback_copies():
            try:
                return real(self, transact_items)
            except Exception:
                for table, hash_key, range_key, item in reversed(saved):
                    _put_back(table, hash_key, range_key, item)
                    if table.stream_shard is not None:
                        del table.stream_shard.items[lengths[id(table)] :]
                raise

    transact_write_items.taskq_item_rollback = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _put_back(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """The item as it was before a cancelled transaction (absent: removed), with no stream record."""
    if range_key is not None:
        if item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item
    elif item is None:
        table.items.pop(hash_key, None)
    else:
        table.items[hash_key] = item
    refresh(table, hash_key, range_key)  # moto's indexes follow (moto_index.py)


def serve_recorded(operation: str, url: str, body: str) -> tuple[int, str]:
    """Sends a journaled request to moto as it was first sent; (status, answer body)."""
    from moto.core.models import botocore_stubber

    headers = HTTPHeaders()
    headers["X-Amz-Target"] = f"{DYNAMODB_TARGET}.{operation}"
    headers["Content-Type"] = "application/x-amz-json-1.0"
    request = AWSPreparedRequest(method="POST", url=url, headers=headers, body=body.encode(), stream_output=False)
    status, _, answer = botocore_stubber.process_request(request)
    return status, answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
