"""What a handler gets beside its task: the lease, and `emit` for streaming tasks."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .client import Client
from .errors import Conflict
from .models import Event, Task

logger = logging.getLogger("taskq_client.worker")


class TaskContext:
    """One attempt at one task. Events are batched (sent when `max_batch` are waiting, when the
    worker's ticker finds them older than `flush_after` seconds, and before the task completes);
    each carries the id `<attempt>.<n>`, so a batch resent after a lost answer is stored once."""

    def __init__(self, client: Client, task: Task, *, max_batch: int = 50, flush_after: float = 0.05) -> None:
        self.client, self.task = client, task
        self.lease_id: str = task.lease_id or ""
        self.attempt = task.attempts
        self.started = time.monotonic()
        self.last_heartbeat = self.started
        self.max_batch, self.flush_after = max_batch, flush_after
        self._fenced = threading.Event()
        self._pending: list[Event] = []
        self._oldest_pending = 0.0
        self._sent = 0
        self._lock = threading.Lock()

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def fenced(self) -> bool:
        """True once the service said this lease is over: nothing this attempt writes counts."""
        return self._fenced.is_set()

    def fence(self, why: str) -> None:
        if not self._fenced.is_set():
            self._fenced.set()
            logger.warning("task %s: lease %s is over (%s); its writes are refused", self.task_id, self.lease_id, why)

    def emit(self, data: Any, event: str = "message") -> None:
        """Queues one event for the producer's stream (spec §4.3)."""
        with self._lock:
            self._sent += 1
            if not self._pending:
                self._oldest_pending = time.monotonic()
            self._pending.append(Event(id=f"{self.attempt}.{self._sent}", event=event, data=data))
            full = len(self._pending) >= self.max_batch
        if full:
            self.flush()

    def flush_if_due(self) -> None:
        with self._lock:
            due = bool(self._pending) and time.monotonic() - self._oldest_pending >= self.flush_after
        if due:
            self.flush()

    def flush(self) -> None:
        """Sends what is waiting, in order (one sender at a time); a refused lease drops it."""
        with self._lock:
            batch, self._pending = self._pending, []
            if not batch or self.fenced:
                return
            try:
                self.client.emit(self.task_id, self.lease_id, batch)
            except Conflict as e:
                self.fence(f"events refused: {e.message}")
