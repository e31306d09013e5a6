"""/v1/uploads routes (spec §6): OpenAI's Uploads API, for files larger than one request
(docs/design.md "Uploads")."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from taskq.errors import BadRequest
from taskq.requests import UploadCompleteRequest, UploadCreateRequest

from ..dependencies import Uploads
from .files import raw_body
from .queue import Caller

router = APIGatewayRouter()


# The part route's body is multipart/form-data, not JSON (errors.refuse_before_routing lets it
# through): a regular expression, since the path holds the upload's id.
PART_PATH = r"/v1/uploads/[^/]+/parts"


@router.post("/v1/uploads", summary="Start an upload of a file in parts, up to 200 MB (producer)")
def create(request: UploadCreateRequest, uploads: Uploads, caller: Caller) -> dict[str, Any]:
    return uploads.create(caller, request.filename, request.purpose, request.bytes, request.mime_type)


@router.post("/v1/uploads/<upload_id>/parts", summary="Add a part (multipart: data, at most 10 MB)")
def add_part(upload_id: str, uploads: Uploads, caller: Caller) -> dict[str, Any]:
    from taskq.multipart import parse_form  # only the part route's body is multipart

    form = parse_form(router.current_event.headers.get("content-type") or "", raw_body(router.current_event))
    if "data" not in form:
        raise BadRequest("data: Field required")
    return uploads.add_part(caller, upload_id, form["data"].value)


@router.post("/v1/uploads/<upload_id>/complete", summary="Join the parts, in order, into a file")
def complete(upload_id: str, request: UploadCompleteRequest, uploads: Uploads, caller: Caller) -> dict[str, Any]:
    return uploads.complete(caller, upload_id, request.part_ids, request.md5)


@router.post("/v1/uploads/<upload_id>/cancel", summary="Cancel an upload: its parts are dropped")
def cancel(upload_id: str, uploads: Uploads, caller: Caller) -> dict[str, Any]:
    return uploads.cancel(caller, upload_id)
