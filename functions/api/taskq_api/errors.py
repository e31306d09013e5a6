"""The one place where errors become HTTP answers with the spec's error body (§1)."""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from taskq.errors import TaskqError
from taskq.http_errors import UNAUTHORIZED_MESSAGE, describe_validation_error, error_body

logger = Logger(child=True)


def error_response(status: int, message: str) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=error_body(status, message))


def proxy_error_response(status: int, message: str) -> dict[str, Any]:
    """An error answered before routing, in the proxy format the resolver would produce."""
    return {
        "statusCode": status,
        "multiValueHeaders": {"Content-Type": [content_types.APPLICATION_JSON]},
        "body": json.dumps(error_body(status, message)),
        "isBase64Encoded": False,
    }


def refuse_before_routing(
    event: dict[str, Any], public_paths: frozenset[str], multipart_paths: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any] | None:
    """What is refused before the resolver sees the request: a keyless call (401 — so it learns
    nothing about the request schema; API Gateway's authorizer does the same in AWS), and a
    body that does not say it is JSON (415 — the API speaks JSON only, spec §1), except a
    multipart/form-data upload to a path `multipart_paths` match (regular expressions: the Batch
    API's files and upload parts)."""
    if event.get("path") not in public_paths and not (event.get("requestContext") or {}).get("authorizer"):
        return proxy_error_response(HTTPStatus.UNAUTHORIZED, UNAUTHORIZED_MESSAGE)
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    media_type = (headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    multipart = any(re.fullmatch(pattern, event.get("path") or "") for pattern in multipart_paths)
    if multipart and event.get("httpMethod") == "POST":
        if media_type != "multipart/form-data":
            return proxy_error_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type: must be multipart/form-data")
        return None
    if event.get("body") and not (media_type == "application/json" or media_type.endswith("+json")):
        return proxy_error_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type: must be application/json")
    return None


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(TaskqError)
    def _domain_error(error: TaskqError) -> Response:
        return error_response(error.status, error.message)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        return error_response(HTTPStatus.BAD_REQUEST, "; ".join(describe_validation_error(e) for e in error.errors()))

    @app.not_found
    def _unknown_route(_: NotFoundError) -> Response:
        request = app.current_event
        return error_response(HTTPStatus.NOT_FOUND, f"no route {request.http_method} {request.path}")

    @app.exception_handler(RequestUnsupportedContentType)
    def _not_json(_: RequestUnsupportedContentType) -> Response:
        return error_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type: must be application/json")

    @app.exception_handler(RecursionError)
    def _too_deep(_: RecursionError) -> Response:
        return error_response(HTTPStatus.BAD_REQUEST, "body: JSON nested too deeply")

    @app.exception_handler(UnicodeError)
    def _bad_text(_: UnicodeError) -> Response:
        return error_response(HTTPStatus.BAD_REQUEST, "body: contains text that is not valid Unicode")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
