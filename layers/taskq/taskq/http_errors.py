"""The spec's error body (§1) and how a validation error names the field: shared by every
function that answers HTTP (the API function, the online function)."""

from __future__ import annotations

import time
from typing import Any

UNAUTHORIZED_MESSAGE = "Authorization: a valid API key is required (Bearer <apikey>)"


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"code": status, "message": message, "timestamp": time.time_ns() // 1_000_000}


def describe_validation_error(error: dict[str, Any]) -> str:
    """`size: Field required` — the field path without the request part it came from."""
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "header", "path")]
    field = ".".join(location) or "body"
    message = error.get("msg") or error.get("type", "invalid")
    if error.get("type") == "json_invalid":
        field, message = "body", "is not valid JSON"
    return f"{field}: {message.removeprefix('Value error, ')}"
