"""The local server's change signal for waits (taskq.online.changes; docs/design.md "Online
tasks"): every write the embedded store commits passes embedded.make_moto_atomic's hook, which
hands it here; a write to a task's item (Tasks table) or its events (Events table) moves the
task's version and wakes the waits on it. A wait runs on its own event loop, on a request
thread; writes commit on other threads, hence call_soon_threadsafe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from .durable import MUTATING_OPERATIONS

# Versions of this many recently changed tasks are kept. A version forgotten reads 0 again,
# which could equal a wait's recorded 0 only if the task changed and was forgotten within one
# poll (this many other tasks changing meanwhile); the safety-net poll would still see it.
KEPT_VERSIONS = 100_000

_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class LocalTaskChanges:
    def __init__(self, kept: int = KEPT_VERSIONS) -> None:
        self._lock = threading.Lock()
        self._kept = kept
        self._counter = 0  # one sequence for all tasks: a forgotten task's version never recurs
        self._versions: OrderedDict[str, int] = OrderedDict()
        self._waiters: dict[str, list[_Waiter]] = {}

    def version(self, task_id: str) -> int:
        with self._lock:
            return self._versions.get(task_id, 0)

    def changed(self, task_ids: Iterable[str]) -> None:
        woken: list[_Waiter] = []
        with self._lock:
            for task_id in task_ids:
                self._counter += 1
                self._versions[task_id] = self._counter
                self._versions.move_to_end(task_id)
                woken += self._waiters.pop(task_id, [])
            while len(self._versions) > self._kept:
                self._versions.popitem(last=False)
        for loop, future in woken:
            with contextlib.suppress(RuntimeError):  # that wait's loop has closed: it is gone
                loop.call_soon_threadsafe(_resolve, future)

    async def wait(self, task_id: str, since_version: int, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = (loop, future)
        with self._lock:
            if self._versions.get(task_id, 0) != since_version:
                return
            self._waiters.setdefault(task_id, []).append(waiter)
        try:
            await asyncio.wait([future], timeout=max(0.0, timeout_s))
        finally:
            with self._lock:
                waiting = self._waiters.get(task_id)
                if waiting is not None and waiter in waiting:
                    waiting.remove(waiter)
                    if not waiting:
                        del self._waiters[task_id]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def changed_task_ids(operation: str, body: bytes | str, tables: frozenset[str]) -> Iterator[str]:
    """The task ids whose items in `tables` a successful DynamoDB request wrote (its JSON body as
    sent; every item of those tables is keyed by `task_id`)."""
    if operation not in MUTATING_OPERATIONS:
        return
    request = json.loads(body)
    if operation == "TransactWriteItems":
        for entry in request.get("TransactItems", []):
            for kind in ("Put", "Update", "Delete"):  # a ConditionCheck writes nothing
                yield from _task_ids(entry.get(kind), tables)
    elif operation == "BatchWriteItem":
        for table, writes in request.get("RequestItems", {}).items():
            for write in writes:
                for kind in ("PutRequest", "DeleteRequest"):
                    yield from _task_ids({"TableName": table, **write[kind]} if kind in write else None, tables)
    else:
        yield from _task_ids(request, tables)


def _task_ids(write: dict[str, Any] | None, tables: frozenset[str]) -> Iterator[str]:
    if write is None or write.get("TableName") not in tables:
        return
    task_id = (write.get("Item") or write.get("Key") or {}).get("task_id", {}).get("S")
    if task_id:
        yield task_id


def signal_changes(tables: Iterable[str]) -> LocalTaskChanges:
    """Installs the signal: the embedded store's writes to `tables` (Tasks, Events) feed it, and
    the online function's waits sleep through it."""
    from taskq.online import changes

    from .embedded import install_write_listener

    signal = LocalTaskChanges()
    names = frozenset(tables)
    install_write_listener(lambda operation, body: signal.changed(changed_task_ids(operation, body, names)))
    changes.install(signal)
    return signal
