"""A batch's input file checked line by line before any task exists (spec §6): JSONL, each line
`{"custom_id", "method": "POST", "url": <the batch's endpoint>, "body": {...}}`, `custom_id`
unique, at most MAX_LINES lines. Pure: the same file always gives the same lines, in order, which
is what lets a fan-out resume at any line (docs/design.md "Batches")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_LINES = 50_000
MAX_ERRORS = 100  # listed in the batch's `errors`; the count of bad lines says how many in all


@dataclass(frozen=True)
class BatchLine:
    custom_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class LineError:
    line: int  # 1-based, as an editor shows it
    code: str
    message: str
    param: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "param": self.param, "line": self.line}


def read_lines(content: bytes, endpoint: str) -> tuple[list[BatchLine], list[LineError]]:
    """The file's requests, or (if any line breaks a rule) the errors, at most MAX_ERRORS of them.
    Blank lines are skipped (a trailing newline is not a request)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return [], [LineError(0, "invalid_file", "the file is not UTF-8 text")]
    lines: list[BatchLine] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    numbered = [(n, raw) for n, raw in enumerate(text.splitlines(), start=1) if raw.strip()]
    if not numbered:
        return [], [LineError(0, "empty_file", "the file has no request")]
    if len(numbered) > MAX_LINES:
        return [], [LineError(0, "too_many_requests", f"{len(numbered)} requests; at most {MAX_LINES} per batch")]
    for number, raw in numbered:
        line, error = _read_line(number, raw, endpoint)
        if error is None and line is not None and line.custom_id in seen:
            error = LineError(
                number,
                "duplicate_custom_id",
                f"custom_id {line.custom_id!r} is also on line {seen[line.custom_id]}",
                "custom_id",
            )
        if error is not None:
            errors.append(error)
            if len(errors) >= MAX_ERRORS:
                break
            continue
        assert line is not None
        seen[line.custom_id] = number
        lines.append(line)
    return ([], errors) if errors else (lines, [])


def _read_line(number: int, raw: str, endpoint: str) -> tuple[BatchLine | None, LineError | None]:
    try:
        value = json.loads(raw)
    except ValueError:
        return None, LineError(number, "invalid_json_line", "the line is not valid JSON")
    if not isinstance(value, dict):
        return None, LineError(number, "invalid_request", "the line is not a JSON object")
    custom_id = value.get("custom_id")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 512:
        return None, LineError(number, "invalid_request", "custom_id: a string of 1 to 512 characters", "custom_id")
    if value.get("method") != "POST":
        return None, LineError(number, "invalid_request", "method: must be POST", "method")
    if value.get("url") != endpoint:
        return None, LineError(number, "invalid_url", f"url: must be the batch's endpoint {endpoint!r}", "url")
    body = value.get("body")
    if not isinstance(body, dict):
        return None, LineError(number, "invalid_request", "body: must be a JSON object", "body")
    return BatchLine(custom_id, body), None
