"""/v1/queue routes (spec §3.1-3.6). Each parses, calls one service function, shapes the answer.

Routes that answer a bare JSON string return a Response and carry no return annotation:
powertools cannot derive a response schema from a Response.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from taskq.errors import NotImplementedYet
from taskq.models import Principal
from taskq.requests import PutRequest, RegisterRequest, TakeRequest
from taskq.service import QueueService

from ..dependencies import get_principal, get_service

router = APIGatewayRouter()

Service = Annotated[QueueService, Depends(get_service)]
Caller = Annotated[Principal, Depends(get_principal)]
LeaseHeader = Annotated[str | None, Header(alias="X-Lease-Id", description="the lease the take granted")]


def json_string(value: str, status: int = 200) -> Response:
    """The spec answers some routes with a bare JSON string, e.g. `"TASK-..."`."""
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(value))


@router.post("/v1/queue/register", summary="Register a queue (admin)")
def register(request: RegisterRequest, service: Service, caller: Caller):
    return json_string(service.register(caller, request))


@router.get("/v1/queue/<queue>/metadata", summary="A registered queue's endpoint")
def metadata(queue: str, service: Service, caller: Caller) -> dict[str, str]:
    return service.metadata(caller, queue)


@router.post("/v1/queue/put", summary="Put a task (producer)")
def put(
    request: PutRequest,
    service: Service,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> dict[str, Any]:
    if request.response_mode != "callback":
        # A wait needs a streaming integration: in AWS this route belongs to the online function.
        raise NotImplementedYet(
            f"response_mode: {request.response_mode!r} puts are served by the online function, not this one"
        )
    task_id = service.put(caller, request, idempotency_key)
    return {"code": 200, "timestamp": service.now_ms(), "data": task_id}


@router.post("/v1/queue/take", summary="Take tasks with a strategy (worker)")
def take(request: TakeRequest, service: Service, caller: Caller) -> dict[str, list[dict[str, Any]]]:
    return service.take(caller, request)


@router.post("/v1/queue/<task_id>/complete", summary="Complete a running task with its result (worker)")
def complete(
    task_id: str,
    result: Annotated[dict[str, Any], Body()],
    service: Service,
    caller: Caller,
    lease_id: LeaseHeader = None,
):
    return json_string(service.complete(caller, task_id, result, lease_id))


@router.post(
    "/v1/queue/<task_id>/cancel", summary="Cancel a waiting or running task (its producer, or admin)", status_code=202
)
def cancel(task_id: str, service: Service, caller: Caller):
    return json_string(service.cancel(caller, task_id), status=202)


@router.get("/v1/queue/<task_id>", summary="A task, with its result once finished")
def get(task_id: str, service: Service, caller: Caller) -> dict[str, Any]:
    return service.get(caller, task_id)
