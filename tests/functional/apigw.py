"""API Gateway REST proxy events, built like the samples in events/, and a `call` that sends one
through the API function's real entry point (`taskq_api.app.lambda_handler`).

Every functional test goes through `call`: the handler is the public surface.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from taskq_api.app import lambda_handler

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
STAGE = "prod"
# The sample whose shape every built event copies: a POST with a body and an authorizer context.
TEMPLATE_SAMPLE = "put"
# Headers of the template sample that belong to that one request, not to every request.
_REQUEST_SPECIFIC_HEADERS = {"content-type", "idempotency-key", "x-lease-id", "authorization"}


@dataclass(frozen=True)
class Caller:
    """An API key as the Lambda authorizer describes it in the request context."""

    ak: str
    role: str
    queues: tuple[str, ...] = ("*",)

    def authorizer_context(self) -> dict[str, Any]:
        # Lambda authorizer contexts carry only strings, numbers and booleans: queues is JSON text.
        return {
            "principalId": self.ak,
            "integrationLatency": 7,
            "ak": self.ak,
            "role": self.role,
            "queues": json.dumps(list(self.queues)),
        }


class Answer(NamedTuple):
    status: int
    body: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class LambdaContextStub:
    """What the handler (and powertools' logger) reads from the Lambda context."""

    function_name: str = "taskq-ApiFunction"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:taskq-ApiFunction"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "6f5c2d1e-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/taskq-ApiFunction"
    log_stream_name: str = "2025/11/11/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@cache
def _sample_text(name: str) -> str:
    return (EVENTS_DIR / f"{name}.json").read_text()


def load_sample(name: str) -> dict[str, Any]:
    """A fresh copy of events/<name>.json."""
    return json.loads(_sample_text(name))


def build_event(
    method: str,
    path: str,
    body: Any = None,
    caller: Caller | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event for `/{proxy+}`.

    `body`: None sends no body; a str is sent verbatim (for malformed JSON); anything else is
    sent as its JSON text. `caller`: None sends no authorizer context (no key).
    """
    event = load_sample(TEMPLATE_SAMPLE)
    sent = {k: v for k, v in event["headers"].items() if k.lower() not in _REQUEST_SPECIFIC_HEADERS}
    if body is not None:
        sent["Content-Type"] = "application/json"
    if caller is not None:
        sent["Authorization"] = f"Bearer secret-of-{caller.ak}"
    sent |= headers or {}
    event |= {
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "pathParameters": {"proxy": path.lstrip("/")},
        "body": body if body is None or isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
    }
    context = event["requestContext"]
    context |= {"httpMethod": method, "path": f"/{STAGE}{path}", "stage": STAGE, "requestId": str(uuid.uuid4())}
    context.pop("authorizer", None)
    if caller is not None:
        context["authorizer"] = caller.authorizer_context()
    return event


def with_path(event: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of `event` addressed to another path (e.g. a sample retargeted to a real task id)."""
    event = copy.deepcopy(event)
    event["path"] = path
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{path}"
    return event


def send(event: dict[str, Any]) -> Answer:
    """Invokes the handler with a copy of `event`; the answer's body parsed as JSON."""
    result = lambda_handler(copy.deepcopy(event), LambdaContextStub())
    headers = {k: v[0] for k, v in (result.get("multiValueHeaders") or {}).items() if v}
    headers |= result.get("headers") or {}
    text = result.get("body")
    return Answer(int(result["statusCode"]), json.loads(text) if text else None, headers)


def call(
    method: str,
    path: str,
    body: Any = None,
    caller: Caller | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    return send(build_event(method, path, body, caller, headers))
