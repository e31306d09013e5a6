"""Server-Sent Events as the producer's stream carries them (spec §4.2), pure.

`id: <seq>\\nevent: <name>\\ndata: <data>\\n\\n`: a string as it is, anything else as compact
JSON. A string with line breaks becomes one `data:` line per line: the SSE parser joins them
back with "\\n" (a lone "\\r" or a "\\r\\n" comes back as "\\n"; SSE cannot carry them).
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from ..models import WorkerEvent

KEEP_ALIVE = ": keep-alive\n\n"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def data_text(data: Any) -> str:
    return data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def frame(name: str | None, data: Any, event_id: int | None = None) -> str:
    """One event; without a name (SSE's default type, "message") it has no `event:` line."""
    lines = [] if event_id is None else [f"id: {event_id}"]
    if name is not None:
        lines.append(f"event: {name}")
    lines += [f"data: {line}" for line in _LINE_BREAK.split(data_text(data))]
    return "\n".join(lines) + "\n\n"


def event_frame(event: WorkerEvent) -> str:
    return frame(event.event, event.data, event.seq)


def error_frame(code: int, message: str, result: dict[str, Any] | None) -> str:
    """The last frame of a stream whose task failed, timed out or was cancelled. It has no `id`:
    a client resuming after it asks for the events after the last worker event."""
    return frame("error", {"code": code, "message": message, "result": result})


class StreamFormat(Protocol):
    """How a stream writes what its watch reports: the native stream (spec §4.2) or the
    front door's OpenAI stream (frontdoor.py)."""

    def event(self, event: WorkerEvent) -> str: ...

    def ends_stream(self, event: WorkerEvent) -> bool:
        """The stream closes right after this event."""
        ...

    def error(self, error: dict[str, Any]) -> str:
        """The last frame of a task that failed, timed out or was cancelled (`Ending.error`)."""
        ...

    def success(self) -> str:
        """What closes the stream of a task that succeeded ("" for nothing)."""
        ...


class NativeFormat:
    """The native stream: every worker event as it was sent, an `event: error` frame at a failure."""

    def event(self, event: WorkerEvent) -> str:
        return event_frame(event)

    def ends_stream(self, event: WorkerEvent) -> bool:
        return False

    def error(self, error: dict[str, Any]) -> str:
        return error_frame(error["code"], error["message"], error["result"])

    def success(self) -> str:
        return ""


NATIVE = NativeFormat()
