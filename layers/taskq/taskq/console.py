"""Stats and console operations (spec §3.10, issue 15): counters and per-minute series per
queue-level, a queue-level's next waiting and running tasks, clearing a queue-level, and the dead
letters of callback delivery with their redelivery (docs/design.md "Console")."""

from __future__ import annotations

from typing import Any

from . import permissions
from .clearing import QueueClearer
from .clock import Clock
from .errors import BadRequest, Conflict, NotFound, QueueNotFound
from .ids import new_lease_id
from .models import QueueLevel
from .permissions import WORKERS
from .series import Minute, window
from .store import DynamoStore, Redelivery

# What the queue page lists of each kind, and the events the task page shows at most.
LISTED_TASKS = 20
SHOWN_EVENTS = 200


def parse_queue_level(text: str) -> QueueLevel:
    try:
        return QueueLevel.parse(text)
    except ValueError as e:
        raise BadRequest(f"queue: {e}") from e


def stats_answer(queue: QueueLevel, counters: dict[str, int]) -> dict[str, Any]:
    return {"queue": queue.name, "level": queue.level, **counters}


def series_answer(series: list[Minute], now: int) -> list[dict[str, int]]:
    return [m.as_answer() for m in window(series, now)]


class ConsoleService:
    def __init__(self, store: DynamoStore, clock: Clock, clearer: QueueClearer | None = None) -> None:
        self._store = store
        self._clock = clock
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

    def queues(self, principal: Any) -> list[dict[str, Any]]:
        """Every queue-level's counters and its series of the last hour (the queues page)."""
        permissions.require_admin(principal, "console")
        now = self._clock.now_ms()
        return [
            stats_answer(queue, counters) | {"series": series_answer(series, now)}
            for queue, counters, series in self._store.queue_overview()
        ]

    def queue_detail(self, principal: Any, queue_text: str) -> dict[str, Any]:
        permissions.require_admin(principal, "console")
        queue = parse_queue_level(queue_text)
        endpoints = self._store.queue_endpoints([queue.name])
        if not endpoints:
            raise QueueNotFound(queue.name)
        return stats_answer(queue, self._store.queue_stats(queue)) | {
            "endpoint": endpoints[queue.name],
            "series": series_answer(self._store.queue_series(queue), self._clock.now_ms()),
            "waiting_tasks": self._store.next_waiting(queue, LISTED_TASKS),
        }

    def running_tasks(self, principal: Any, queue_text: str) -> list[dict[str, Any]]:
        """Apart from the queue's detail: it reads the sweep index (docs/design.md "Console"),
        so the page shows everything else first and fills this in when it arrives."""
        permissions.require_admin(principal, "console")
        queue = parse_queue_level(queue_text)
        self._require_registered(queue)
        return self._store.running_tasks(queue, LISTED_TASKS)

    def task_extras(self, principal: Any, task_id: str) -> dict[str, Any]:
        """What the task page shows beside the task itself (GET /v1/queue/{task_id}): its
        events (a streaming task's, the first SHOWN_EVENTS) and its callback delivery."""
        permissions.require_admin(principal, "console")
        events = self._store.events_after(task_id, 0)
        delivery = self._store.delivery_state(task_id)
        return {
            "task_id": task_id,
            "events": [{"seq": e.seq, "id": e.id, "event": e.event, "data": e.data} for e in events[:SHOWN_EVENTS]],
            "events_truncated": len(events) > SHOWN_EVENTS,
            "callback": None if delivery is None else _delivery_answer(delivery),
        }

    def redeliver(self, principal: Any, task_id: str) -> None:
        """Sends a dead letter's callback again (the retry job makes the attempts); a delivery
        already under way is left alone, as a repeated call should."""
        permissions.require_admin(principal, "console")
        outcome = self._store.redeliver(task_id, self._clock.now_ms(), new_lease_id())
        if outcome is Redelivery.NOT_FOUND:
            raise NotFound(f"task_id: no callback delivery for task {task_id!r}")
        if outcome is Redelivery.DELIVERED:
            raise Conflict(f"task_id: the callback of task {task_id!r} was delivered already")

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


def _delivery_answer(record: dict[str, Any]) -> dict[str, Any]:
    status = record.get("last_status")
    return {
        "state": record["state"],
        "url": record["url"],
        "attempts": int(record.get("attempts", 0)),
        "last_status": None if status is None else int(status),
        "last_error": record.get("last_error", ""),
    }
