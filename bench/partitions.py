"""What a DynamoDB write costs each partition it touches: the pure half of the partition-limit
simulator (bench/partition_proxy.py is the HTTP half).

DynamoDB serves at most ~1,000 write units/s per partition key, for a table and for each global
secondary index alike (/work/shared/reference/dynamodb-facts.md). A write charges:
- the table's partition of the item's key: ceil(item size / 1 KB) units, whether its condition
  holds or not (a failed conditional write is billed on the table);
- each index the item enters, leaves or changes in, by the size of the item as that index
  projects it: an insert on the new key, a delete on the old key, both when an index key (hash or
  sort) changes, one update when only a projected attribute does; nothing when the write failed.

The key schemas come from template.yaml (taskq_local.template), never written out here.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from taskq_local.template import table_definitions

UNIT_BYTES = 1024
UNKNOWN = object()  # an attribute whose new value an update computes (arithmetic, if_not_exists)


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None
    projected: frozenset[str] | None  # non-key attributes carried; None: ALL

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)


@dataclass(frozen=True)
class Schema:
    hash_key: str
    keys: tuple[str, ...]  # the table's key attributes (hash, then range)
    indexes: tuple[Index, ...]


def _keys(key_schema: list[dict[str, str]]) -> tuple[str, str | None]:
    by_type = {k["KeyType"]: k["AttributeName"] for k in key_schema}
    return by_type["HASH"], by_type.get("RANGE")


def schemas() -> dict[str, Schema]:
    """Each table of template.yaml by logical id: its key and its global secondary indexes."""
    found = {}
    for logical_id, definition in table_definitions().items():
        hash_key, range_key = _keys(definition["KeySchema"])
        indexes = []
        for gsi in definition.get("GlobalSecondaryIndexes", []):
            index_hash, index_range = _keys(gsi["KeySchema"])
            projection = gsi["Projection"]
            kind = projection["ProjectionType"]
            projected = None if kind == "ALL" else frozenset(projection.get("NonKeyAttributes", ()))
            indexes.append(Index(gsi["IndexName"], index_hash, index_range, projected))
        keys = (hash_key,) if range_key is None else (hash_key, range_key)
        found[logical_id] = Schema(hash_key, keys, tuple(indexes))
    return found


# --- sizes (DynamoDB's item size rules, close enough for write units) ---------------------------


def value_size(value: dict[str, Any]) -> int:
    (kind, v), *_ = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return len(v.lstrip("-").replace(".", "").lstrip("0")) // 2 + 2
    if kind == "B":
        return len(base64.b64decode(v))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(value_size({"N": n}) for n in v)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) for b in v)
    if kind == "L":
        return 3 + sum(1 + value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(x) for k, x in v.items())
    raise ValueError(f"unknown attribute value type {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(v) for name, v in item.items() if v is not UNKNOWN)


def units(size: int) -> int:
    return max(1, math.ceil(size / UNIT_BYTES))


# --- what an UpdateItem does to the item ---------------------------------------------------------

_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b", re.IGNORECASE)


def _top_level_split(text: str, sep: str = ",") -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _name(path: str, names: dict[str, str]) -> str:
    """The top-level attribute a path writes (`#a.b[0]` -> the name `#a` stands for)."""
    head = re.split(r"[.\[]", path.strip(), maxsplit=1)[0]
    return names.get(head, head)


def apply_update(old: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """The item after `request`'s UpdateExpression, from the item before (`{}` if none). A value
    the expression computes (arithmetic, list_append, a nested path) is `UNKNOWN`; a plain
    `:value` or `if_not_exists(same, :value)` is known."""
    names = request.get("ExpressionAttributeNames", {})
    values = request.get("ExpressionAttributeValues", {})
    new = dict(old) | request["Key"]
    expression = request.get("UpdateExpression", "")
    pieces = _CLAUSE.split(expression)
    for keyword, body in zip(pieces[1::2], pieces[2::2], strict=True):
        keyword = keyword.upper()
        for action in _top_level_split(body):
            if keyword == "SET":
                path, _, value = action.partition("=")
                name = _name(path, names)
                value = value.strip()
                nested = re.search(r"[.\[]", path.strip()) is not None
                guarded = re.fullmatch(r"if_not_exists\s*\(\s*([^,]+),\s*(:\w+)\s*\)", value)
                if not nested and value in values:
                    new[name] = values[value]
                elif not nested and guarded and _name(guarded[1], names) == name:
                    new[name] = old.get(name, values.get(guarded[2], UNKNOWN))
                else:
                    new[name] = UNKNOWN
            elif keyword == "REMOVE":
                name = _name(action, names)
                if re.search(r"[.\[]", action):
                    new[name] = UNKNOWN
                else:
                    new.pop(name, None)
            else:  # ADD, DELETE: a number added to, or elements of a set added or taken away
                new[_name(action.split()[0], names)] = UNKNOWN
    return new


# --- the charges -------------------------------------------------------------------------------

Partition = tuple[str, str, str]  # (table name, index name or "", partition key value as JSON)


@dataclass(frozen=True)
class Charge:
    partition: Partition
    units: int
    index: bool  # an index write: refunded when the write's condition fails


def _key_value(item: dict[str, Any], attribute: str) -> str:
    return json.dumps(item[attribute], sort_keys=True)


def _projected(item: dict[str, Any], schema: Schema, index: Index) -> dict[str, Any]:
    if index.projected is None:
        return item
    wanted = set(schema.keys) | set(index.keys) | index.projected
    return {k: v for k, v in item.items() if k in wanted}


def _in_index(item: dict[str, Any], index: Index) -> bool:
    return all(k in item for k in index.keys)


def charges(
    table: str, schema: Schema, key: dict[str, Any], old: dict[str, Any] | None, new: dict[str, Any] | None
) -> list[Charge]:
    """The write units a write of the item at `key` from `old` to `new` (None: no item) costs,
    by partition.

    An index key the write computes (`UNKNOWN`) is taken to stay in its old partition and to
    change there (a delete and an insert on the old key): the conservative rule for a key the
    proxy cannot know without the item after the write."""
    old = old or {}
    new_item = new or {}
    size = max(item_size(old), item_size(new_item))
    found = [Charge((table, "", _key_value(key, schema.hash_key)), units(size), False)]
    for index in schema.indexes:
        was, now = _in_index(old, index), _in_index(new_item, index)
        before, after = _projected(old, schema, index), _projected(new_item, schema, index)
        if was and now and any(new_item[k] is UNKNOWN for k in index.keys):
            key = (table, index.name, _key_value(old, index.hash_key))
            found += [Charge(key, units(item_size(before)), True), Charge(key, units(item_size(after)), True)]
            continue
        moved = was and now and any(old[k] != new_item[k] for k in index.keys)
        if was and (not now or moved):
            found.append(Charge((table, index.name, _key_value(old, index.hash_key)), units(item_size(before)), True))
        if now and (not was or moved):
            found.append(
                Charge((table, index.name, _key_value(new_item, index.hash_key)), units(item_size(after)), True)
            )
        if was and now and not moved and before != after:
            size = max(item_size(before), item_size(after))
            found.append(Charge((table, index.name, _key_value(old, index.hash_key)), units(size), True))
    return found
