"""The admin route raising a queue-level's ready shard count (issue 14, docs/design.md
"Sharded queue heads")."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from taskq.requests import ShardsRequest

from .queue import Caller, Service

router = APIGatewayRouter()


@router.post("/v1/console/<queue_level>/shards", summary="Raise a queue-level's ready shard count (admin)")
def shards(queue_level: str, request: ShardsRequest, service: Service, caller: Caller) -> dict[str, Any]:
    """Only ever raised: a lower count is a 409. Puts and takes use the new count within two
    minutes (each function instance re-reads the registrations it caches that often)."""
    return service.raise_shards(caller, queue_level, request)
