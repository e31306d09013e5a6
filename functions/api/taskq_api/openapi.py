"""The OpenAPI document of every route behind the REST API (spec §3.12), served at /openapi.json.

powertools generates the API function's part from its routes and models. Two things are added
here, in one place, so that no route can forget them:
- the answers every route shares: any 4xx carries the spec's error body (§1), which replaces
  powertools' `422 HTTPValidationError` — this API answers bad input with `400` and that body —
  and a `204` has no body;
- the routes the online function serves behind the same API (docs/design.md "Routing: two
  functions behind one REST API"): the stream of a streaming task and the OpenAI-compatible front
  door. Its put (`POST /v1/queue/put`, every mode) is documented by the API function's own route,
  whose request model both functions share; only its streamed answer is added.
"""

from __future__ import annotations

import json
from copy import deepcopy
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

TITLE, VERSION = "taskq", "1.0.0"
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
ERROR_BODY = {
    "title": "ErrorBody",
    "description": "Every error answer (spec §1); the front door adds OpenAI's `error` object beside it.",
    "type": "object",
    "required": ["code", "message", "timestamp"],
    "properties": {
        "code": {"type": "integer", "description": "equals the HTTP status"},
        "message": {"type": "string", "description": "what was wrong, naming the field"},
        "timestamp": {"type": "integer", "description": "epoch milliseconds"},
        "error": {"$ref": "#/components/schemas/OpenAIError"},
    },
}
OPENAI_ERROR = {
    "title": "OpenAIError",
    "description": "OpenAI's error object, which the OpenAI SDKs read (front-door routes only).",
    "type": "object",
    "required": ["message", "type"],
    "properties": {
        "message": {"type": "string"},
        "type": {"type": "string"},
        "param": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "code": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
}
CLIENT_ERROR = {
    "description": "Bad input, no or a wrong key, an unknown task or queue, a conflict: the error body",
    "content": {"application/json": {"schema": ERROR_REF}},
}
EVENT_STREAM = {"text/event-stream": {"schema": {"type": "string", "description": "server-sent events"}}}
_TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _optional_header(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": {"type": "string"}, "description": description}


_LAST_EVENT_ID = _optional_header("Last-Event-ID", "resume after this event id (the `id:` of the last event received)")
_QUEUE_HEADER = _optional_header("X-Taskq-Queue", "the queue; else the queue named like the body's `model`")
_OPENAI_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "The OpenAI request as the SDK sends it; the whole body becomes the task's data.",
                "properties": {"model": {"type": "string"}, "stream": {"type": "boolean"}},
                "additionalProperties": True,
            }
        }
    },
}


def _front_door(summary: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "description": "Served by the online function: a level-0 task, blocking (JSON) or, with "
            '`"stream": true`, streaming (OpenAI chunks, then `data: [DONE]`). spec §4.5.',
            "tags": ["online"],
            "parameters": [_QUEUE_HEADER],
            "requestBody": _OPENAI_BODY,
            "responses": {
                "200": {
                    "description": "The worker's answer",
                    "content": {"application/json": {"schema": {"type": "object"}}} | EVENT_STREAM,
                }
            },
        }
    }


ONLINE_PATHS: dict[str, dict[str, Any]] = {
    "/v1/queue/{task_id}/stream": {
        "get": {
            "summary": "Follow a streaming task's events (its producer, or admin)",
            "description": "Served by the online function: the worker's events as server-sent events, "
            "from the first or after `Last-Event-ID`, until the task ends. spec §4.2.",
            "tags": ["online"],
            "parameters": [_TASK_ID, _LAST_EVENT_ID],
            "responses": {"200": {"description": "The events", "content": EVENT_STREAM}},
        }
    },
    "/v1/chat/completions": _front_door("OpenAI-compatible chat completion, answered by a worker (producer)"),
    "/v1/completions": _front_door("OpenAI-compatible completion, answered by a worker (producer)"),
    "/v1/embeddings": _front_door("OpenAI-compatible embeddings, answered by a worker (producer)"),
}


def _form(description: str, fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    schema = {"type": "object", "description": description, "required": list(fields), "properties": fields}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


_BINARY = {"type": "string", "format": "binary"}
# The routes whose body is a form, which the routes read themselves (files.py, uploads.py).
MULTIPART_BODIES: dict[str, dict[str, Any]] = {
    "/v1/files": _form(
        "`file` (at most 10 MB) and `purpose` (`batch`)", {"file": _BINARY, "purpose": {"type": "string"}}
    ),
    "/v1/uploads/{upload_id}/parts": _form("`data`: one part's bytes (at most 10 MB)", {"data": _BINARY}),
}


def document(app: APIGatewayRestResolver) -> dict[str, Any]:
    """The whole API's OpenAPI document."""
    doc = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas |= {"ErrorBody": ERROR_BODY, "OpenAIError": OPENAI_ERROR}
    doc["paths"] |= deepcopy(ONLINE_PATHS)
    for path, body in MULTIPART_BODIES.items():
        doc["paths"][path]["post"]["requestBody"] = deepcopy(body)
    doc["paths"]["/v1/queue/put"]["post"]["responses"]["200"]["content"] |= EVENT_STREAM  # a streaming put
    for operations in doc["paths"].values():
        for operation in operations.values():
            responses = operation["responses"]
            responses.pop("422", None)
            responses.get("204", {}).pop("content", None)  # no body, whatever powertools assumes
            responses["4XX"] = CLIENT_ERROR
    _drop_unused_schemas(doc)
    return doc


def _drop_unused_schemas(doc: dict[str, Any]) -> None:
    """Keeps the schemas the operations use (powertools' validation-error models were used only
    by the 422 this API never answers)."""
    schemas, used = doc["components"]["schemas"], set()

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            name = str(node.get("$ref", "")).rpartition("/")[2]
            if name in schemas and name not in used:
                used.add(name)
                visit(schemas[name])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(doc["paths"])
    doc["components"]["schemas"] = {name: schema for name, schema in schemas.items() if name in used}
