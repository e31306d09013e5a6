"""docs/api.md is written by hand (the contract, as the code behaves). Its online parts are
checked against the code here: a new online queue route, or a changed limit, fails until the
page says so. The front door's routes (§4.5) are documented and checked with the front door."""

from __future__ import annotations

import re

from taskq.online.rules import MAX_EVENT_BYTES, MAX_TIMEOUT_SECONDS
from taskq.requests import EventIn, EventsRequest
from taskq.service import MAX_PAYLOAD_BYTES
from taskq_local.processes import ROOT
from taskq_local.routes import routes_from_template
from taskq_local.template import load_template
from taskq_online.waiting import KEEP_ALIVE_SECONDS

DOC = (ROOT / "docs" / "api.md").read_text()
# The online routes: the producer's put and stream (the online function) and the worker's events.
ONLINE_ROUTES = {
    ("POST", "/v1/queue/put", "OnlineFunction"),
    ("GET", "/v1/queue/{task_id}/stream", "OnlineFunction"),
    ("POST", "/v1/queue/{task_id}/events", "ApiFunction"),
}


def max_length(model: type, field: str) -> int:
    return next(m.max_length for m in model.model_fields[field].metadata if hasattr(m, "max_length"))


def test_the_online_routes_are_the_templates():
    routes = {(r.method, r.resource, r.function) for r in routes_from_template(load_template())}
    assert routes >= ONLINE_ROUTES
    online_queue_routes = {r for r in routes if r[2] == "OnlineFunction" and r[1].startswith("/v1/queue/")}
    assert online_queue_routes <= ONLINE_ROUTES, "an online queue route this test (and docs/api.md) does not know"


def test_every_online_route_is_documented():
    for method, path, _ in ONLINE_ROUTES:
        assert f"`{method} {path}`" in DOC or f"`{path}`" in DOC, f"docs/api.md does not document {method} {path}"


def test_the_documented_limits_are_the_codes():
    stated = re.sub(r"\s+", " ", DOC)
    expected = [
        f"`1..{MAX_TIMEOUT_SECONDS['blocking']}` for blocking",
        f"`1..{MAX_TIMEOUT_SECONDS['streaming']}` for streaming",
        f"1..{max_length(EventsRequest, 'events')} events",
        f"`id` optional (1..{max_length(EventIn, 'id')} characters)",
        f"Each event at most {MAX_EVENT_BYTES // 1024} KiB and all of them at most {MAX_PAYLOAD_BYTES // 1024} KiB",
        f"`: keep-alive` goes out after {KEEP_ALIVE_SECONDS:g} s of silence",
    ]
    assert [text for text in expected if text not in stated] == []
