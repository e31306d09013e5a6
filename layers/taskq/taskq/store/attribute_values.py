"""Python values to DynamoDB attribute values and back, the rules of boto3's TypeSerializer and
TypeDeserializer (boto3.dynamodb.types), without importing boto3.

Why not boto3's: any `boto3.*` import runs `boto3/__init__`, which loads its session, resource
layer and s3transfer — over 100 ms of a cold start, for two small functions. The functions
build their client from botocore directly (store_from_env). tests/unit/test_attribute_values.py
holds these rules to boto3's on every kind of value.

One difference, unused here: a binary attribute reads back as `bytes`, not boto3's `Binary`
wrapper (the tables hold no binary attributes).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB's numbers: 38 digits, exponents -130..125; anything lost in conversion is an error.
DYNAMODB_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def _number(value: int | Decimal) -> str:
    text = str(DYNAMODB_CONTEXT.create_decimal(value))
    if text in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return text


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, int | Decimal)  # a bool is an int: serialize() looks for bools first


def _is_binary(value: Any) -> bool:
    return isinstance(value, bytes | bytearray)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def serialize(value: Any) -> dict[str, Any]:
    """`{"S": "a"}` for "a", `{"N": "5"}` for 5, and so on (floats are refused, as boto3 does)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if _is_binary(value):
        return {"B": value}
    if isinstance(value, Set):  # an empty set is a number set, as in boto3
        if all(_is_number(v) for v in value):
            return {"NS": [_number(v) for v in value]}
        if all(_is_str(v) for v in value):
            return {"SS": list(value)}
        if all(_is_binary(v) for v in value):
            return {"BS": list(value)}
    if isinstance(value, Mapping):
        return {"M": {k: serialize(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def deserialize(attribute: dict[str, Any]) -> Any:
    """The Python value of one attribute value: numbers become Decimal, as boto3 gives them."""
    if not attribute:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    kind, value = next(iter(attribute.items()))
    match kind:
        case "NULL":
            return None
        case "BOOL" | "S" | "B":
            return value
        case "N":
            return DYNAMODB_CONTEXT.create_decimal(value)
        case "NS":
            return {DYNAMODB_CONTEXT.create_decimal(v) for v in value}
        case "SS" | "BS":
            return set(value)
        case "L":
            return [deserialize(v) for v in value]
        case "M":
            return {k: deserialize(v) for k, v in value.items()}
    raise TypeError(f"Dynamodb type {kind} is not supported")
