"""/v1/files routes (spec §6): the Batch API's files, as OpenAI's Files API answers them."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from taskq.errors import BadRequest
from taskq.page_limits import MAX_FILES_PAGE

from ..dependencies import Files
from .queue import Caller

router = APIGatewayRouter()

# A route whose body is not JSON (errors.refuse_before_routing lets it through).
UPLOAD_PATH = "/v1/files"


def raw_body(event: Any) -> bytes:
    """The body as sent: base64 when API Gateway treats its media type as binary (the template's
    BinaryMediaTypes: multipart/form-data, so a part cut inside a UTF-8 character stays exact),
    else text."""
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


@router.post(UPLOAD_PATH, summary="Upload a file (multipart: file, purpose) (producer)")
def upload(files: Files, caller: Caller) -> dict[str, Any]:
    from taskq.multipart import parse_form  # the one route with a multipart body

    content_type = router.current_event.headers.get("content-type") or ""
    form = parse_form(content_type, raw_body(router.current_event))
    if "file" not in form:
        raise BadRequest("file: Field required")
    if "purpose" not in form:
        raise BadRequest("purpose: Field required")
    try:
        purpose = form["purpose"].value.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest("purpose: is not UTF-8 text") from e
    return files.upload(caller, form["file"].filename, purpose, form["file"].value).to_wire()


@router.get("/v1/files", summary="The caller's files, newest first (admin: every file)")
def list_files(
    files: Files,
    caller: Caller,
    after: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_FILES_PAGE)] = MAX_FILES_PAGE,
    order: Annotated[str, Query()] = "desc",
) -> dict[str, Any]:
    return files.list(caller, after, limit, order)


@router.get("/v1/files/<file_id>", summary="A file's metadata")
def retrieve(file_id: str, files: Files, caller: Caller) -> dict[str, Any]:
    return files.get(caller, file_id).to_wire()


@router.get("/v1/files/<file_id>/content", summary="A file's content")
def content(file_id: str, files: Files, caller: Caller):
    # Text, not bytes: powertools would base64 a bytes body, which API Gateway passes on as it
    # is without binary media types. Batch files (and the output files) are UTF-8 JSONL.
    text = files.content(caller, file_id).decode("utf-8", errors="replace")
    return Response(status_code=200, content_type="application/jsonl", body=text)


@router.delete("/v1/files/<file_id>", summary="Delete a file")
def delete(file_id: str, files: Files, caller: Caller) -> dict[str, Any]:
    return files.delete(caller, file_id)
