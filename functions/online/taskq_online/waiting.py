"""The async side of a wait: sleep between polls, run each poll (blocking botocore calls) in a
worker thread. What to read and when, and how a wait ends, is the layer's (taskq.online)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.concurrency import run_in_threadpool

from taskq.online import sse
from taskq.online.changes import TaskChanges
from taskq.online.watch import Ending, TaskWatch

Sleep = Callable[[float], Awaitable[None]]
KEEP_ALIVE_SECONDS = 15.0  # a comment line after this much silence (spec §4.2)


class Pause:
    """The pause before each poll. Without a change signal (AWS) it sleeps the planned delay.
    With one (changes.py) it ends when the task changed since the version recorded before the
    previous poll's reads, or after the delay: a write that lands between a poll's reads and
    its pause moves the version, so the pause returns at once and nothing is missed. Before the
    first recorded version it does not wait (what the wait knows was read before it began)."""

    def __init__(self, task_id: str, sleep: Sleep, changes: TaskChanges | None) -> None:
        self._task_id = task_id
        self._sleep = sleep
        self._changes = changes
        self._seen: int | None = None

    @property
    def signalled(self) -> bool:
        return self._changes is not None

    def before_poll(self) -> None:
        if self._changes is not None:
            self._seen = self._changes.version(self._task_id)

    async def __call__(self, delay_ms: int) -> int:
        """Pauses up to `delay_ms`; returns the ms it paused."""
        if self._changes is None:
            await self._sleep(delay_ms / 1000)
            return delay_ms
        if self._seen is None:
            return 0
        started = time.monotonic()
        await self._changes.wait(self._task_id, self._seen, delay_ms / 1000)
        return min(delay_ms, int((time.monotonic() - started) * 1000))


async def wait_for_end(
    watch: TaskWatch, sleep: Sleep, gone: Callable[[], Awaitable[bool]], changes: TaskChanges | None = None
) -> Ending | None:
    """A blocking put's answer; None when the producer went away first (the task goes on)."""
    pause = Pause(watch.task.task_id, sleep, changes)
    while True:
        plan = watch.next_poll(signalled=pause.signalled)
        await pause(plan.delay_ms)
        if await gone():
            return None
        pause.before_poll()
        progress = await run_in_threadpool(watch.poll, plan)
        if progress.ending is not None:
            return progress.ending


async def stream_frames(
    watch: TaskWatch,
    sleep: Sleep,
    keep_alive_seconds: float,
    style: sse.StreamFormat = sse.NATIVE,
    changes: TaskChanges | None = None,
) -> AsyncIterator[str]:
    """The SSE frames of a streaming task: its events as they come, a keep-alive comment after
    each `keep_alive_seconds` of silence, an error frame when it does not succeed; then the end.
    `style` writes the frames (the native stream's, or the front door's)."""
    keep_alive_ms = int(keep_alive_seconds * 1000)
    silent_ms = 0
    pause = Pause(watch.task.task_id, sleep, changes)
    while True:
        plan = watch.next_poll(signalled=pause.signalled)
        silent_ms += await pause(min(plan.delay_ms, keep_alive_ms - silent_ms))
        if silent_ms >= keep_alive_ms:
            yield sse.KEEP_ALIVE
            silent_ms = 0
        pause.before_poll()
        progress = await run_in_threadpool(watch.poll, plan)
        for event in progress.events:
            yield style.event(event)
            silent_ms = 0
            if style.ends_stream(event):
                return
        if progress.ending is not None:
            error = progress.ending.error
            last = style.success() if error is None else style.error(error)
            if last:
                yield last
            return
