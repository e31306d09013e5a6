"""The admin route raising a queue-level's ready shard count (issue 14; taskq/sharding.py)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from taskq.requests import ShardsRequest
from taskq.sharding import raise_shards
from taskq.store import DynamoStore

from ..dependencies import get_store
from .queue import Caller

router = APIGatewayRouter()

Store = Annotated[DynamoStore, Depends(get_store)]


@router.post("/v1/console/<queue_level>/shards", summary="Raise a queue-level's ready shard count (admin)")
def shards(queue_level: str, request: ShardsRequest, store: Store, caller: Caller) -> dict[str, Any]:
    """Only ever raised: a lower count is a 409. Puts and takes use the new count within
    two minutes (the registration each function instance caches)."""
    return raise_shards(store, caller, queue_level, request)
