"""Server-Sent Events parsing (the subset spec §4.2 sends: id, event, data, comments)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from .models import Event


def _decoded(data: str) -> object:
    """The service sends a string as it is and anything else as compact JSON: undo the latter."""
    try:
        return json.loads(data)
    except ValueError:
        return data


def parse(lines: Iterable[str]) -> Iterator[Event]:
    """Events from the lines of a stream; a blank line ends an event, `:` lines are comments."""
    event_id: str | None = None
    name, data = "message", []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield Event(id=event_id, event=name, data=_decoded("\n".join(data)))
            event_id, name, data = None, "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id":
            event_id = value
        elif field == "event":
            name = value
        elif field == "data":
            data.append(value)
