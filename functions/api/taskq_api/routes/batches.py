"""/v1/batches routes (spec §6): the Batch API's batches, as OpenAI's Batch API answers them."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from taskq.page_limits import MAX_BATCHES_PAGE
from taskq.requests import BatchCreateRequest

from ..dependencies import Batches
from .queue import Caller

router = APIGatewayRouter()


@router.post("/v1/batches", summary="Create a batch from an uploaded file (producer); it runs asynchronously")
def create(
    request: BatchCreateRequest,
    batches: Batches,
    caller: Caller,
    queue: Annotated[str | None, Header(alias="X-Taskq-Queue")] = None,
    bella_queue: Annotated[str | None, Header(alias="X-BELLA-QUEUE-NAME")] = None,
    level: Annotated[str | None, Header(alias="X-Taskq-Level")] = None,
) -> dict[str, Any]:
    return batches.create(caller, request, queue or bella_queue, level).to_wire()


@router.get("/v1/batches", summary="The caller's batches, newest first (admin: every batch)")
def list_batches(
    batches: Batches,
    caller: Caller,
    after: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_BATCHES_PAGE)] = 20,
) -> dict[str, Any]:
    return batches.list(caller, after, limit)


@router.get("/v1/batches/<batch_id>", summary="A batch")
def retrieve(batch_id: str, batches: Batches, caller: Caller) -> dict[str, Any]:
    return batches.get(caller, batch_id).to_wire()


@router.post("/v1/batches/<batch_id>/cancel", summary="Cancel a batch: its waiting requests are cancelled")
def cancel(batch_id: str, batches: Batches, caller: Caller) -> dict[str, Any]:
    return batches.cancel(caller, batch_id).to_wire()
