"""How a result decides the final status (spec §3.4), and the 256 KiB payload limit (spec §1)."""

import pytest

from taskq.errors import BadRequest, PayloadTooLarge
from taskq.models import Status
from taskq.service import final_status_of, payload_bytes

LIMIT = 256 * 1024  # spec §1: at most 256 KiB serialized


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({}, Status.SUCCEEDED),
        ({"body": {"text": "ok"}}, Status.SUCCEEDED),
        ({"status_code": 200}, Status.SUCCEEDED),
        ({"status_code": 204}, Status.SUCCEEDED),
        ({"status_code": 299}, Status.SUCCEEDED),
        ({"status_code": "204"}, Status.SUCCEEDED),
        ({"status_code": "200", "request_id": "r-1", "body": {"status_code": 500}}, Status.SUCCEEDED),
        ({"status_code": 199}, Status.FAILED),
        ({"status_code": 300}, Status.FAILED),
        ({"status_code": 408}, Status.FAILED),
        ({"status_code": 500}, Status.FAILED),
        ({"status_code": "404"}, Status.FAILED),
        ({"status_code": "503"}, Status.FAILED),
        ({"status_code": 0}, Status.FAILED),
    ],
)
def test_final_status_follows_status_code(result, expected):
    assert final_status_of(result) is expected


@pytest.mark.parametrize("code", ["abc", "", "2OO", True, False, 1.5, [200], {"code": 200}])
def test_non_numeric_status_code_is_a_bad_request(code):
    with pytest.raises(BadRequest, match="status_code") as info:
        final_status_of({"status_code": code})
    assert info.value.status == 400


def test_superscript_digit_status_code_is_a_bad_request():
    with pytest.raises(BadRequest):
        final_status_of({"status_code": "\u00b2"})


# --- payload_bytes --------------------------------------------------------------------------------


def sized(total: int, char: str = "x") -> dict:
    """A one-key object whose compact UTF-8 JSON, {"k":"..."}, is exactly `total` bytes."""
    overhead = len('{"k":""}')
    width = len(char.encode())
    assert (total - overhead) % width == 0
    return {"k": char * ((total - overhead) // width)}


@pytest.mark.parametrize("field", ["data", "result"])
def test_payload_at_the_limit_is_accepted(field):
    assert payload_bytes(field, sized(LIMIT)) == LIMIT


@pytest.mark.parametrize("field", ["data", "result"])
def test_payload_one_byte_over_the_limit_is_too_large(field):
    with pytest.raises(PayloadTooLarge, match=f"^{field}: ") as info:
        payload_bytes(field, sized(LIMIT + 1))
    assert info.value.status == 413
    assert str(LIMIT + 1) in info.value.message


def test_payload_counts_utf8_bytes_not_characters():
    # "é" is two bytes in UTF-8: at the limit in bytes, half of it in characters
    assert payload_bytes("data", sized(LIMIT, "\u00e9")) == LIMIT
    with pytest.raises(PayloadTooLarge):
        payload_bytes("data", sized(LIMIT + 2, "\u00e9"))


def test_small_payload_size():
    assert payload_bytes("data", {"a": 1, "b": [True, None]}) == len('{"a":1,"b":[true,null]}')
