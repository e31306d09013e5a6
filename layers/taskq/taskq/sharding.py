"""Raising a queue-level's ready shard count (docs/design.md "Sharded queue heads"): an admin's
console operation. Puts and takes see the raise within service.REGISTRATION_REREAD_MS."""

from __future__ import annotations

from typing import Any

from . import permissions
from .console import parse_queue_level
from .models import Principal, Registration
from .requests import ShardsRequest
from .store import DynamoStore


def registration_answer(registration: Registration, level: int) -> dict[str, Any]:
    return {
        "queue": registration.queue,
        "level": level,
        "endpoint": registration.endpoint,
        "shards": registration.shards_of(level),
    }


def raise_shards(store: DynamoStore, principal: Principal, queue_text: str, request: ShardsRequest) -> dict[str, Any]:
    """The registration with the new count; 404 for a queue not registered, 409 for a lower
    count than the registered one (the same count is a repeat, answered alike)."""
    permissions.require_admin(principal, "console")
    queue = parse_queue_level(queue_text)
    return registration_answer(store.raise_shards(queue, request.shards), queue.level)
