"""HTTP request <-> API Gateway REST proxy event and response: pure functions, no I/O.

The event has the shape API Gateway (REST API, Lambda proxy integration, payload format 1.0)
hands to a function behind `ANY /{proxy+}`, so the handler runs exactly as it does in AWS.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

STAGE = "local"
PROXY_RESOURCE = "/{proxy+}"
# Hop-by-hop and framing headers are the server's business, never the function's.
FRAMING_HEADERS = {"connection", "content-length", "keep-alive", "transfer-encoding"}


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # the request target as sent: path and query, still percent-encoded
    headers: list[tuple[str, str]] = field(default_factory=list)  # in order, repeats kept
    body: bytes = b""
    source_ip: str = "127.0.0.1"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _multi_map(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in pairs:
        result.setdefault(name, []).append(value)
    return result


def _last_values(multi: Mapping[str, list[str]]) -> dict[str, str]:
    """API Gateway's single-value maps keep the last value of a repeated name."""
    return {name: values[-1] for name, values in multi.items()}


# The template's Api BinaryMediaTypes (`multipart~1form-data`): such bodies arrive base64.
BINARY_MEDIA_TYPES = frozenset({"multipart/form-data"})


def _event_body(body: bytes, content_type: str) -> tuple[str | None, bool]:
    """(body, isBase64Encoded) as API Gateway hands it over: base64 for a binary media type
    (the template's BinaryMediaTypes), else text. Text bytes that are not UTF-8 are replaced
    (U+FFFD), so the function sees text it can refuse, never bytes it cannot decode."""
    if not body:
        return None, False
    if content_type.split(";")[0].strip().lower() in BINARY_MEDIA_TYPES:
        return base64.b64encode(body).decode("ascii"), True
    return body.decode("utf-8", errors="replace"), False


def split_target(target: str) -> tuple[str, str]:
    """(path, query) of a request target; an absolute-form target (`http://host/p?q`) is reduced
    to its path. Not urlsplit alone: it would read `//x` as a host."""
    if target.startswith(("http://", "https://")):
        split = urlsplit(target)
        return split.path or "/", split.query
    path, _, query = target.partition("#")[0].partition("?")
    return path or "/", query


def request_context(
    request: HttpRequest, resource: str = PROXY_RESOURCE, authorizer: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The event's `requestContext`; `authorizer` is the authorizer's context, if any. The
    Lambda Web Adapter hands the same object to an ASGI app (the `x-amzn-request-context` header)."""
    path = split_target(request.target)[0]
    lower = {name.lower(): value for name, value in request.headers}  # the last of repeated names
    context: dict[str, Any] = {
        "resourceId": "local",
        "resourcePath": resource,
        "httpMethod": request.method,
        "path": f"/{STAGE}{path}",
        "stage": STAGE,
        "requestId": str(uuid.uuid4()),
        "requestTimeEpoch": time.time_ns() // 1_000_000,
        "protocol": "HTTP/1.1",
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": lower.get("host", "localhost"),
        "identity": {"sourceIp": request.source_ip, "userAgent": lower.get("user-agent")},
    }
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    return context


def query_parameters(request: HttpRequest) -> dict[str, list[str]]:
    """The query as API Gateway (REST) decodes it: every value of every name, in order."""
    return _multi_map(parse_qsl(split_target(request.target)[1], keep_blank_values=True))


def to_event(
    request: HttpRequest,
    authorizer: Mapping[str, Any] | None = None,
    resource: str = PROXY_RESOURCE,
    path_parameters: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The REST proxy event for a request that matched `resource` (with `path_parameters`);
    without them, the template's `ANY /{proxy+}`."""
    path = split_target(request.target)[0]  # API Gateway (REST) keeps the path encoded
    query = query_parameters(request)  # but decodes the query
    headers = _multi_map(request.headers)
    if resource == PROXY_RESOURCE and path_parameters is None:
        path_parameters = {"proxy": unquote(path.lstrip("/"))}
    lower = {name.lower(): value for name, value in request.headers}
    body, is_base64 = _event_body(request.body, lower.get("content-type", ""))
    return {
        "resource": resource,
        "path": path,
        "httpMethod": request.method,
        "headers": _last_values(headers) or None,
        "multiValueHeaders": headers or None,
        "queryStringParameters": _last_values(query) or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": request_context(request, resource, authorizer),
        "body": body,
        "isBase64Encoded": is_base64,
    }


def error_response(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
    """The spec's error body (§1), for answers the gateway gives without calling the function."""
    body = {"code": status, "message": message, "timestamp": time.time_ns() // 1_000_000}
    return HttpResponse(status, [("Content-Type", "application/json"), *headers], json.dumps(body).encode())


def from_result(result: Any) -> HttpResponse:
    """The HTTP answer for a function's proxy result; a malformed result is a 502, as in AWS."""
    if not isinstance(result, Mapping) or not isinstance(result.get("statusCode"), int):
        return error_response(502, "the function returned a malformed proxy response")
    # API Gateway merges both maps; a name in multiValueHeaders takes its values from there.
    multi = {name: [str(v) for v in values] for name, values in (result.get("multiValueHeaders") or {}).items()}
    single = {name: str(value) for name, value in (result.get("headers") or {}).items() if name not in multi}
    headers = [(name, value) for name, values in multi.items() for value in values]
    headers += list(single.items())
    headers = [(name, value) for name, value in headers if name.lower() not in FRAMING_HEADERS]
    body = result.get("body") or ""
    if not isinstance(body, str):
        return error_response(502, "the function returned a body that is not a string")
    if result.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return error_response(502, "the function returned a body that is not valid base64")
    else:
        payload = body.encode("utf-8")
    return HttpResponse(result["statusCode"], headers, payload)
