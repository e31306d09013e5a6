"""The batched put and complete routes (spec §3.13): many tasks per API request."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from taskq import batched
from taskq.requests import CompleteBatchRequest, PutBatchRequest

from .queue import Caller, Service

router = APIGatewayRouter()


@router.post("/v1/queue/put-batch", summary="Put up to 100 tasks, each answered on its own (producer)")
def put_batch(request: PutBatchRequest, service: Service, caller: Caller) -> dict[str, Any]:
    data = batched.put_batch(service, caller, request.tasks)
    return {"code": 200, "timestamp": service.now_ms(), "data": data}


@router.post("/v1/queue/complete-batch", summary="Complete up to 100 running tasks, each on its own (worker)")
def complete_batch(request: CompleteBatchRequest, service: Service, caller: Caller) -> dict[str, Any]:
    data = batched.complete_batch(service, caller, request.results)
    return {"code": 200, "timestamp": service.now_ms(), "data": data}
