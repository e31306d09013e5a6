"""Stats and console operations (spec §3.10): counters per queue-level, clearing a queue-level,
and the dead letters of callback delivery."""

from __future__ import annotations

from typing import Any

from . import permissions
from .clearing import QueueClearer
from .clock import Clock
from .errors import BadRequest, QueueNotFound
from .models import QueueLevel
from .permissions import WORKERS
from .store import DynamoStore


def parse_queue_level(text: str) -> QueueLevel:
    try:
        return QueueLevel.parse(text)
    except ValueError as e:
        raise BadRequest(f"queue: {e}") from e


def stats_answer(queue: QueueLevel, counters: dict[str, int]) -> dict[str, Any]:
    return {"queue": queue.name, "level": queue.level, **counters}


class ConsoleService:
    def __init__(self, store: DynamoStore, clock: Clock, clearer: QueueClearer | None = None) -> None:
        self._store = store
        self._clearer = clearer or QueueClearer(store, clock)

    def queue_stats(self, principal: Any, queue_text: str) -> dict[str, Any]:
        """An admin's, or a worker's whose patterns cover the queue; 404 for an unregistered queue."""
        queue = parse_queue_level(queue_text)
        permissions.require_queue(principal, queue.name, WORKERS, "stats")
        self._require_registered(queue)
        return stats_answer(queue, self._store.queue_stats(queue))

    def all_stats(self, principal: Any) -> list[dict[str, Any]]:
        permissions.require_admin(principal, "console")
        return [stats_answer(queue, counters) for queue, counters in self._store.all_queue_stats()]

    def clear(self, principal: Any, queue_text: str) -> tuple[QueueLevel, bool]:
        """(the queue-level, whether every covered task is cancelled already)."""
        permissions.require_admin(principal, "console")
        queue = parse_queue_level(queue_text)
        self._require_registered(queue)
        return queue, self._clearer.clear(queue)

    def dead_letters(self, principal: Any, limit: int) -> list[dict[str, Any]]:
        permissions.require_admin(principal, "console")
        return self._store.dead_letters(limit)

    def _require_registered(self, queue: QueueLevel) -> None:
        if not self._store.queue_endpoints([queue.name]):
            raise QueueNotFound(queue.name)
