"""A worker's events for its streaming task (spec §4.3): a short request, fenced by X-Lease-Id.
The producer's stream that carries them is the online function's (functions/online)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from taskq.requests import EventsRequest

from .leases import RequiredLease
from .queue import Caller, Service

router = APIGatewayRouter()


@router.post("/v1/queue/<task_id>/events", summary="Append events to a running streaming task (worker)")
def append_events(
    task_id: str, request: EventsRequest, service: Service, caller: Caller, lease_id: RequiredLease
) -> dict[str, Any]:
    return service.append_events(caller, task_id, lease_id, request)
