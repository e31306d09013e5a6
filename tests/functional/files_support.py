"""What the Batch API's functional tests share: the files bucket in moto's S3, multipart bodies,
GETs with a query string."""

from __future__ import annotations

import base64
import secrets
from typing import Any
from urllib.parse import parse_qsl

from apigw import Answer, Caller, build_event, send

BUCKET = "taskq-files-test"


def create_bucket(s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)


def multipart(fields: dict[str, tuple[str | None, bytes]]) -> tuple[str, str]:
    """(Content-Type, body as text) of a form; a field is (filename or None, value). Text, as
    API Gateway hands over a body of a media type that is not binary."""
    content_type, body = multipart_bytes(fields)
    return content_type, body.decode("utf-8")


def multipart_base64(fields: dict[str, tuple[str | None, bytes]]) -> tuple[str, str]:
    """(Content-Type, body in base64): as API Gateway hands over multipart/form-data, one of
    the template's BinaryMediaTypes."""
    content_type, body = multipart_bytes(fields)
    return content_type, base64.b64encode(body).decode("ascii")


def multipart_bytes(fields: dict[str, tuple[str | None, bytes]]) -> tuple[str, bytes]:
    boundary = secrets.token_hex(8)
    body = b""
    for name, (filename, value) in fields.items():
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename:
            body += b"Content-Type: application/octet-stream\r\n"
        body += b"\r\n" + value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def query_get(path: str, caller: Caller) -> Answer:
    """A GET whose query string (`?a=1&b=2`) goes where API Gateway puts it."""
    path, _, query = path.partition("?")
    event = build_event("GET", path, None, caller)
    pairs = parse_qsl(query, keep_blank_values=True)
    if pairs:
        event |= {
            "queryStringParameters": dict(pairs),
            "multiValueQueryStringParameters": {k: [v] for k, v in pairs},
        }
    return send(event)
