"""SSE frames of a producer's stream (taskq/online/sse.py), checked against an SSE parser built
to the WHATWG rules (the one browsers and the openai client follow)."""

from __future__ import annotations

import json

import pytest

from taskq.models import WorkerEvent
from taskq.online import sse


def parse(text: str) -> list[dict[str, str]]:
    """Events as an SSE client dispatches them: `data` lines joined with "\\n", comments dropped."""
    events, current, data = [], {}, []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line == "":
            if data or current:
                events.append(current | {"data": "\n".join(data)})
            current, data = {}, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        else:
            current[field] = value
    return events


def test_a_string_goes_as_it_is_with_its_sequence_as_id():
    text = sse.event_frame(WorkerEvent(event="message", data="Hello", seq=7))
    assert text == "id: 7\nevent: message\ndata: Hello\n\n"


def test_anything_else_goes_as_compact_json():
    text = sse.event_frame(WorkerEvent(event="chunk", data={"a": [1, 2], "b": "é"}, seq=1))
    assert text == 'id: 1\nevent: chunk\ndata: {"a":[1,2],"b":"é"}\n\n'
    assert json.loads(parse(text)[0]["data"]) == {"a": [1, 2], "b": "é"}


@pytest.mark.parametrize("data", ["two\nlines", "a\r\nb\rc\nd", "trailing\n", "\nleading", "", "data: [DONE]"])
def test_a_string_with_line_breaks_is_split_into_data_lines_that_a_client_joins_back(data):
    [event] = parse(sse.event_frame(WorkerEvent(event="message", data=data, seq=3)))
    assert event == {"id": "3", "event": "message", "data": data.replace("\r\n", "\n").replace("\r", "\n")}


def test_the_error_frame_has_no_id_so_a_resume_starts_after_the_last_worker_event():
    text = sse.error_frame(408, "timed out", {"status_code": 408})
    [event] = parse(text)
    assert "id" not in event
    assert event["event"] == "error"
    assert json.loads(event["data"]) == {"code": 408, "message": "timed out", "result": {"status_code": 408}}


def test_keep_alive_is_a_comment_that_a_client_ignores():
    assert sse.KEEP_ALIVE == ": keep-alive\n\n"
    assert parse(sse.KEEP_ALIVE) == []
