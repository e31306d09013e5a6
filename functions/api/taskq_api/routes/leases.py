"""A worker's lease operations (spec §3.7-3.8): heartbeat and retry, both fenced by X-Lease-Id."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from taskq.requests import HeartbeatRequest, RetryRequest

from .queue import Caller, Service, json_string

router = APIGatewayRouter()

RequiredLease = Annotated[str, Header(alias="X-Lease-Id", description="the lease the take granted")]


@router.post("/v1/queue/<task_id>/heartbeat", summary="Extend the lease of a running task (worker)")
def heartbeat(
    task_id: str,
    service: Service,
    caller: Caller,
    lease_id: RequiredLease,
    request: Annotated[HeartbeatRequest | None, Body()] = None,
) -> dict[str, Any]:
    return service.heartbeat(caller, task_id, lease_id, request or HeartbeatRequest())


@router.post("/v1/queue/<task_id>/retry", summary="Give a running task back for another attempt (worker)")
def retry(
    task_id: str,
    service: Service,
    caller: Caller,
    lease_id: RequiredLease,
    request: Annotated[RetryRequest | None, Body()] = None,
):
    return json_string(service.retry(caller, task_id, lease_id, request or RetryRequest()))
