"""The store's attribute-value codec gives what boto3's TypeSerializer / TypeDeserializer give
(the functions no longer import boto3; see store/attribute_values.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from taskq.store.attribute_values import deserialize, serialize

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -7,
    2**62,
    10**37,
    Decimal("1.5"),
    Decimal("-0.000001"),
    Decimal("1E+100"),
    "",
    "text",
    "終わり",
    b"\x00\xff",
    bytearray(b"ab"),
    {1, 2, Decimal("3.25")},
    {"a", "b"},
    {b"x", b"y"},
    set(),
    [],
    [1, "a", None, [True, {"k": b"v"}]],
    ("tuple", 2),
    {},
    {"nested": {"list": [1, {"deep": "yes"}], "n": 5, "none": None}},
]

REFUSED: list[Any] = [
    1.5,  # floats: boto3 asks for Decimal
    [1, 2.0],
    {1.0},
    Decimal("Infinity"),
    Decimal("NaN"),
    Decimal("1." + "1" * 40),  # more than 38 digits: inexact
    Decimal("1E+200"),  # out of DynamoDB's range
    {1, "mixed"},
    object(),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)  # stable ids: sets print in any order
def test_serializes_as_boto3_does(value: Any) -> None:
    expected = TypeSerializer().serialize(value)
    got = serialize(value)
    if isinstance(value, set):  # sets have no order: compare the members
        ((kind, members),) = expected.items()
        assert got.keys() == {kind}
        assert sorted(got[kind]) == sorted(members)
    else:
        assert got == expected
        assert type(got) is type(expected)


@pytest.mark.parametrize("value", REFUSED, ids=lambda v: type(v).__name__)  # stable ids: sets print in any order
def test_refuses_what_boto3_refuses(value: Any) -> None:
    with pytest.raises(Exception) as boto3_error:
        TypeSerializer().serialize(value)
    with pytest.raises(type(boto3_error.value)):
        serialize(value)


def _plain(value: Any) -> Any:
    """boto3's `Binary` wrapper as the bytes it holds (ours gives bytes directly)."""
    if isinstance(value, Binary):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)  # stable ids: sets print in any order
def test_deserializes_as_boto3_does(value: Any) -> None:
    attribute = TypeSerializer().serialize(value)
    expected = _plain(TypeDeserializer().deserialize(attribute))
    got = deserialize(attribute)
    assert got == expected
    assert type(got) is type(expected)


def test_numbers_read_back_as_decimals_in_dynamodb_context() -> None:
    assert deserialize({"N": "1.50"}) == Decimal("1.50")
    assert str(deserialize({"N": "1.50"})) == str(TypeDeserializer().deserialize({"N": "1.50"}))
    with pytest.raises(TypeError):
        deserialize({})
    with pytest.raises(TypeError):
        deserialize({"X": 1})
