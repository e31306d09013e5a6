"""`Worker`: threads that take, run a handler, keep the lease alive and complete or retry.

`concurrency` handler threads; one taker thread takes as many tasks as handler threads are idle
(so the worker never holds a task it has not started, and one take serves several threads);
one ticker thread heartbeats every running lease at a third of `process_timeout` and sends
the events handlers emitted.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from .client import Client, result_body
from .context import TaskContext
from .errors import Conflict, TaskError, TaskqError
from .models import Result, Task

logger = logging.getLogger("taskq_client.worker")
Handler = Callable[[Task, TaskContext], "dict[str, Any] | Result | None"]
TICK_SECONDS = 0.05
MAX_TAKE = 100  # take's size limit (spec §3.3)


class Worker:
    def __init__(
        self,
        client: Client,
        queues: Sequence[str],
        *,
        strategy: str = "fifo",
        concurrency: int = 1,
        process_timeout: int = 60,
        max_retries: int = 3,
        endpoint: str | None = None,
        grace: float = 30.0,
        backoff: float = 1.0,
        max_backoff: float = 300.0,
        idle_poll: float = 1.0,
        heartbeat_every: float | None = None,
    ) -> None:
        if concurrency < 1 or process_timeout < 1:
            raise ValueError("concurrency and process_timeout must be at least 1")
        self.client, self.queues, self.strategy = client, list(queues), strategy
        self.concurrency, self.process_timeout, self.max_retries = concurrency, process_timeout, max_retries
        self.endpoint, self.grace = endpoint, grace
        self.backoff, self.max_backoff, self.idle_poll = backoff, max_backoff, idle_poll
        self.heartbeat_every = heartbeat_every if heartbeat_every is not None else process_timeout / 3
        self.counts: Counter[str] = Counter()  # succeeded, failed, retried, fenced, given_back, errors
        self._handler: Handler | None = None
        self._stopping = threading.Event()  # no more takes
        self._done = threading.Event()  # the ticker may end
        self._signalled = threading.Event()
        self._inflight: dict[str, TaskContext] = {}
        self._lock = threading.Lock()
        self._stop_lock = threading.Lock()  # stop() from run() and from another thread at once
        self._threads: list[threading.Thread] = []
        self._runners: list[threading.Thread] = []

    def handler(self, function: Handler) -> Handler:
        """Decorator: `function(task, ctx)` returns the result body (a dict), a Result, or None
        (an empty body); raising retries the task with backoff, TaskError(retry=False) fails it."""
        self._handler = function
        return function

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._handler is None:
            raise RuntimeError("no handler: decorate one with @worker.handler")
        self._stopping.clear()
        self._done.clear()
        self._slots = threading.Semaphore(self.concurrency)
        self._ready: queue.SimpleQueue[TaskContext | None] = queue.SimpleQueue()
        self._runners = [
            threading.Thread(target=self._run_loop, name=f"taskq-worker-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        self._threads = [
            threading.Thread(target=self._take_loop, name="taskq-worker-taker", daemon=True),
            threading.Thread(target=self._tick_loop, name="taskq-worker-ticker", daemon=True),
        ]
        for thread in [*self._runners, *self._threads]:
            thread.start()

    def stop(self, grace: float | None = None) -> None:
        """Stops taking, waits up to `grace` seconds for the handlers running, then gives the
        tasks still running back with retry(delay 0) so another worker gets them at once."""
        self._stopping.set()
        with self._stop_lock:
            if self._threads:
                self._drain(self.grace if grace is None else grace)

    def _drain(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        self._threads[0].join(max(0.0, deadline - time.monotonic()))  # the taker's last take
        for _ in self._runners:
            self._ready.put(None)
        for thread in self._runners:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = list(self._inflight.values())
        for ctx in left:
            self._give_back(ctx)
        self._done.set()
        self._threads[1].join(5)
        self._threads, self._runners = [], []

    def run(self) -> int:
        """Blocks until SIGTERM or SIGINT (or stop() from another thread), drains, returns 0."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        self._signalled.clear()
        try:
            self.start()
            logger.info("worker: %d threads on %s (%s)", self.concurrency, ", ".join(self.queues), self.strategy)
            while not (self._signalled.is_set() or self._stopping.is_set()):
                self._signalled.wait(0.2)
            logger.info("worker: draining %d running tasks", len(self._inflight))
            self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signalled.set()

    # -- the loops -------------------------------------------------------------------------

    def _take_loop(self) -> None:
        """Takes as many tasks as handler threads are free (at least one, at most 100): one
        take serves several idle threads, and no task waits in the worker for a thread."""
        idle = TICK_SECONDS
        while not self._stopping.is_set():
            if not self._slots.acquire(timeout=TICK_SECONDS):
                continue
            free = 1
            while free < min(self.concurrency, MAX_TAKE) and self._slots.acquire(blocking=False):
                free += 1
            try:
                tasks = self.client.take(
                    self.queues,
                    size=free,
                    strategy=self.strategy,
                    endpoint=self.endpoint,
                    process_timeout=self.process_timeout,
                    max_retries=self.max_retries,
                )
            except TaskqError as e:
                self._count("errors")
                logger.warning("take failed: %s", e)
                tasks = []
            for task in tasks:
                if self._stopping.is_set():  # taken while stopping: no handler may start it
                    self._give_back(TaskContext(self.client, task))
                else:
                    self._ready.put(TaskContext(self.client, task))
            for _ in range(free - len(tasks)):
                self._slots.release()
            if tasks:
                idle = TICK_SECONDS
            else:  # nothing to do: poll less often, up to idle_poll, with jitter
                self._stopping.wait(idle * random.uniform(0.5, 1.0))  # noqa: S311
                idle = min(idle * 2, self.idle_poll)

    def _run_loop(self) -> None:
        while (ctx := self._ready.get()) is not None:
            try:
                self._process(ctx)
            finally:
                self._slots.release()

    def _tick_loop(self) -> None:
        while not self._done.wait(TICK_SECONDS):
            with self._lock:
                running = list(self._inflight.values())
            now = time.monotonic()
            for ctx in running:
                ctx.flush_if_due()
                if not ctx.fenced and now - ctx.last_heartbeat >= self.heartbeat_every:
                    self._heartbeat(ctx)

    def _heartbeat(self, ctx: TaskContext) -> None:
        try:
            self.client.heartbeat(ctx.task_id, ctx.lease_id, self.process_timeout)
            ctx.last_heartbeat = time.monotonic()
        except Conflict as e:
            ctx.fence(f"heartbeat refused: {e.message}")
        except TaskqError as e:  # try again at the next tick, the lease still has two thirds left
            logger.warning("task %s: heartbeat failed: %s", ctx.task_id, e)

    # -- one task --------------------------------------------------------------------------

    def _process(self, ctx: TaskContext) -> None:
        if self._stopping.is_set():  # taken while stopping: hand it straight back
            self._give_back(ctx)
            return
        with self._lock:
            self._inflight[ctx.task_id] = ctx
        try:
            assert self._handler is not None
            outcome = self._handler(ctx.task, ctx)
        except TaskError as e:
            if e.retry:
                self._retry(ctx, e)
            else:
                body = {"status_code": e.status_code, "request_id": ctx.task_id, "message": e.message}
                self._complete(ctx, body | {"body": e.body if e.body is not None else {}})
        except Exception as e:
            logger.warning("task %s: attempt %d raised %r", ctx.task_id, ctx.attempt, e)
            self._retry(ctx, e)
        else:
            self._complete(ctx, result_body(ctx.task_id, outcome))
        finally:
            with self._lock:
                self._inflight.pop(ctx.task_id, None)

    def _complete(self, ctx: TaskContext, body: dict[str, Any]) -> None:
        ctx.flush()
        try:
            self.client.complete(ctx.task_id, body, ctx.lease_id)
        except Conflict as e:
            self._count("fenced")
            ctx.fence(f"complete refused: {e.message}")
            return
        except TaskqError as e:  # the lease ends by itself and the task is redelivered
            self._count("errors")
            logger.error("task %s: complete failed: %s", ctx.task_id, e)
            return
        code = body.get("status_code", 200)
        self._count("succeeded" if 200 <= int(code) < 300 else "failed")

    def _retry(self, ctx: TaskContext, error: BaseException) -> None:
        ctx.flush()
        delay = self.retry_delay(ctx.attempt)
        try:
            self.client.retry(ctx.task_id, ctx.lease_id, delay, reason=repr(error)[:500])
            self._count("retried")
        except Conflict as e:
            self._count("fenced")
            ctx.fence(f"retry refused: {e.message}")
        except TaskqError as e:
            self._count("errors")
            logger.error("task %s: retry failed: %s", ctx.task_id, e)

    def retry_delay(self, attempt: int) -> int:
        """Exponential backoff with jitter, whole seconds (the route takes integers): attempt n
        waits between half and all of backoff * 2**(n-1), capped at max_backoff."""
        if self.backoff <= 0:
            return 0
        ceiling = min(self.max_backoff, self.backoff * 2 ** max(0, attempt - 1))
        return math.ceil(random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter, not secrets

    def _give_back(self, ctx: TaskContext) -> None:
        ctx.fence("the worker is stopping")  # the handler may still finish; its complete will be refused
        with contextlib.suppress(TaskqError):
            self.client.retry(ctx.task_id, ctx.lease_id, 0, reason="worker shutting down")
            self._count("given_back")
