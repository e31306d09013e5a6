"""Index queries in the embedded moto that do not scan the table (docs/design.md "The local
server"). moto answers every Query by sorting all of a table's items and testing each: with
50,000 waiting tasks, each take, sweep and batch read sorted 50,000 items.

Here each index keeps, per partition key value, the sorted keys of the items in that partition
(moto's own order: index range key, then the table's keys), refreshed after every item write
moto makes (`put_item`, `delete_item`, `update_item`, and a cancelled transaction's put-back).
A Query then hands moto's own `Table.query` only the items it could answer with: those of the
partition, from the key condition's lower bound (or after `ExclusiveStartKey`), up to Limit + 1.
moto still re-checks, sorts, pages, filters and projects them, so its answer is the one it
would have given; only the candidates are fewer. A base-table Query gets its partition alone.
What this module does not recognise (a backward scan, a multi-attribute key) falls back to the
whole partition, or to moto's scan. Runs under STORE_LOCK, as every request moto serves."""

from __future__ import annotations

import bisect
import inspect
from collections.abc import Callable
from typing import Any

from .embedded import STORE_LOCK

# Key conditions by the lowest value they let through (the first operand; none for < and <=):
# the candidates start there. moto names them either way. Any other: moto's own scan.
_LOWER_BOUNDED = {"EQ", "=", "GE", ">=", "GT", ">", "BETWEEN", "BEGINS_WITH"}
_UNBOUNDED_BELOW = {"LT", "<", "LE", "<="}


class PartitionIndex:
    """One index of one table: partition value -> sorted sort keys of its items."""

    def __init__(self, table: Any, hash_attr: str, range_attr: str | None) -> None:
        self.hash_attr, self.range_attr = hash_attr, range_attr
        self.partitions: dict[Any, list[tuple[Any, ...]]] = {}
        self.keys: dict[tuple[Any, ...], tuple[Any, Any]] = {}  # sort key -> (hash, range) DynamoTypes
        self.where: dict[tuple[Any, Any], tuple[Any, tuple[Any, ...]]] = {}  # primary key -> entry
        self._table = table
        self.key_names = [a for a in (range_attr, table.hash_key_attr, table.range_key_attr) if a is not None]
        for item in table.all_items():
            self.refresh(item.hash_key, item.range_key, item)

    def sort_key(self, attrs: dict[str, Any]) -> tuple[Any, ...]:
        """moto's sort order for an index: its range key, then the table's hash and range keys."""
        return tuple(attrs[name].cast_value for name in self.key_names)

    def refresh(self, hash_key: Any, range_key: Any, item: Any) -> None:
        """Puts the item with this primary key where its attributes place it now (nowhere when
        it is gone or lacks a key attribute of the index: the index is sparse)."""
        primary = (hash_key.cast_value, None if range_key is None else range_key.cast_value)
        old = self.where.pop(primary, None)
        if old is not None:
            partition, key = old
            entries = self.partitions[partition]
            del entries[bisect.bisect_left(entries, key)]
            if not entries:
                del self.partitions[partition]
            del self.keys[key]
        attrs = item.attrs if item is not None else {}
        if self.hash_attr in attrs and (self.range_attr is None or self.range_attr in attrs):
            partition, key = attrs[self.hash_attr], self.sort_key(attrs)
            bisect.insort(self.partitions.setdefault(partition, []), key)
            self.keys[key] = (hash_key, range_key)
            self.where[primary] = (partition, key)

    def candidates(
        self, partition: Any, comparison: str | None, bounds: list[Any], start: dict | None, limit: int | None
    ):
        """The items moto needs to answer a forward Query of `partition`: those the range
        condition lets through, after `start`, at most limit + 1 (moto sets LastEvaluatedKey
        when it sees one more). None for a condition or a `start` this does not know."""
        if comparison is not None and comparison not in _LOWER_BOUNDED | _UNBOUNDED_BELOW:
            return None
        entries = self.partitions.get(partition, [])
        position = 0
        lower = bounds[0].cast_value if comparison in _LOWER_BOUNDED else None
        if lower is not None:
            position = bisect.bisect_left(entries, (lower,))
        if start is not None:
            if any(name not in start for name in self.key_names):
                return None
            from moto.dynamodb.models.dynamo_type import DynamoType

            after = self.sort_key({name: DynamoType(start[name]) for name in self.key_names})
            position = max(position, bisect.bisect_right(entries, after))
        found = []
        for key in entries[position:]:
            item = self._item(key)
            if limit is not None and len(found) == limit:
                found.append(item)  # moto sets LastEvaluatedKey on meeting any item past Limit
                break
            if comparison is not None and not item.attrs[self.range_attr].compare(comparison, bounds):
                # The matching keys are one run in sorted order: past the lower bound, a key
                # that fails ends it (equal to it, as for GT, it may still come before the run).
                if lower is None or key[0] != lower:
                    break
                continue
            found.append(item)
        return found

    def items(self, partition: Any) -> list[Any]:
        return [self._item(key) for key in self.partitions.get(partition, [])]

    def _item(self, key: tuple[Any, ...]) -> Any:
        hash_key, range_key = self.keys[key]
        held = self._table.items[hash_key]
        return held[range_key] if range_key is not None else held


def _index(table: Any, index_name: str) -> PartitionIndex | None:
    """The table's index by name, built on first use; None for one this module does not keep."""
    built = table.__dict__.setdefault("taskq_indexes", {})
    if index_name not in built:
        index = next((i for i in table.all_indexes() if i.name == index_name), None)
        if index is None:
            return None
        hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
        ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
        if len(hashes) != 1 or len(ranges) > 1:
            return None
        built[index_name] = PartitionIndex(table, hashes[0], ranges[0] if ranges else None)
    return built[index_name]


def refresh(table: Any, hash_key: Any, range_key: Any) -> None:
    """After a write to the item with this key: every built index of the table follows it."""
    if hash_key is None:
        return
    held = table.items.get(hash_key)
    item = held.get(range_key) if isinstance(held, dict) else held
    for index in table.__dict__.get("taskq_indexes", {}).values():
        index.refresh(hash_key, range_key, item)


def _partition_candidates(table: Any, args: dict[str, Any]) -> list | None:
    """What moto's query should look at instead of every item; None: everything (moto's way).
    `args`: Table.query's arguments by name."""
    hash_key, index_name = args.get("hash_key"), args.get("index_name")
    if args.get("filter_kwargs"):  # the legacy KeyConditions filters: left to moto
        return None
    if index_name is None:
        if hash_key is None:
            return None
        held = table.items.get(hash_key)
        if table.range_key_attr is None:
            return [] if held is None else [held]
        return list((held or {}).values())
    index = _index(table, index_name)
    conditions = args.get("hash_key_conditions") or []
    ranges = args.get("range_key_conditions") or []
    if index is None or len(conditions) != 1 or conditions[0][0] != index.hash_attr or len(ranges) > 1:
        return None
    partition = conditions[0][1]
    if not args.get("scan_index_forward", True):
        return index.items(partition)
    return index.candidates(
        partition,
        args.get("range_comparison"),
        args.get("range_objs") or [],
        args.get("exclusive_start_key"),
        args.get("limit"),
    )


def key_of(table: Any, attributes: dict[str, Any]) -> tuple[Any, Any]:
    """The (hash, range) DynamoTypes of the item `attributes` (a key or a whole item) name;
    (None, None) when a key attribute is missing (moto refuses the request)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if table.hash_key_attr not in attributes:
        return None, None
    range_attr = table.range_key_attr
    if range_attr is not None and range_attr not in attributes:
        return None, None
    range_key = DynamoType(attributes[range_attr]) if range_attr is not None else None
    return DynamoType(attributes[table.hash_key_attr]), range_key


def _wrap(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    real = getattr(owner, name)
    if not getattr(real, "taskq_indexed", False):
        wrapped = make(real)
        wrapped.taskq_indexed = True
        setattr(owner, name, wrapped)


def index_queries() -> None:
    """Installs the indexes: queries answered from them, every item write kept in them."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    def query(real: Any) -> Any:
        signature = inspect.signature(real)

        def indexed_query(self: Any, *args: Any, **kwargs: Any) -> Any:
            given = signature.bind(self, *args, **kwargs).arguments
            with STORE_LOCK:
                chosen = _partition_candidates(self, given)
                if chosen is None:
                    return real(self, *args, **kwargs)
                self.all_items = lambda: chosen  # where moto's query reads its candidates from
                try:
                    return real(self, *args, **kwargs)
                finally:
                    del self.all_items

        return indexed_query

    def put_item(real: Any) -> Any:
        def indexed_put(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            try:
                return real(self, item_attrs, *args, **kwargs)
            finally:
                hash_key, range_key = key_of(self, item_attrs)
                refresh(self, hash_key, range_key)

        return indexed_put

    def delete_item(real: Any) -> Any:
        def indexed_delete(self: Any, hash_key: Any, range_key: Any) -> Any:
            try:
                return real(self, hash_key, range_key)
            finally:
                refresh(self, hash_key, range_key)

        return indexed_delete

    def update_item(real: Any) -> Any:
        def indexed_update(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            try:
                return real(self, table_name, key, *args, **kwargs)
            finally:
                table = self.tables.get(table_name)
                if table is not None:
                    refresh(table, *key_of(table, key))

        return indexed_update

    _wrap(Table, "query", query)
    _wrap(Table, "put_item", put_item)
    _wrap(Table, "delete_item", delete_item)
    _wrap(DynamoDBBackend, "update_item", update_item)
