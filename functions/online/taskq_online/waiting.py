"""The async side of a wait: sleep between polls, run each poll (blocking botocore calls) in a
worker thread. What to read and when, and how a wait ends, is the layer's (taskq.online)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.concurrency import run_in_threadpool

from taskq.online import sse
from taskq.online.watch import Ending, TaskWatch

Sleep = Callable[[float], Awaitable[None]]
KEEP_ALIVE_SECONDS = 15.0  # a comment line after this much silence (spec §4.2)


async def wait_for_end(watch: TaskWatch, sleep: Sleep, gone: Callable[[], Awaitable[bool]]) -> Ending | None:
    """A blocking put's answer; None when the producer went away first (the task goes on)."""
    while True:
        plan = watch.next_poll()
        await sleep(plan.delay_ms / 1000)
        if await gone():
            return None
        progress = await run_in_threadpool(watch.poll, plan)
        if progress.ending is not None:
            return progress.ending


async def stream_frames(
    watch: TaskWatch, sleep: Sleep, keep_alive_seconds: float, style: sse.StreamFormat = sse.NATIVE
) -> AsyncIterator[str]:
    """The SSE frames of a streaming task: its events as they come, a keep-alive comment after
    each `keep_alive_seconds` of silence, an error frame when it does not succeed; then the end.
    `style` writes the frames (the native stream's, or the front door's)."""
    keep_alive_ms = int(keep_alive_seconds * 1000)
    silent_ms = 0
    while True:
        plan = watch.next_poll()
        delay_ms = min(plan.delay_ms, keep_alive_ms - silent_ms)
        await sleep(delay_ms / 1000)
        silent_ms += delay_ms
        if silent_ms >= keep_alive_ms:
            yield sse.KEEP_ALIVE
            silent_ms = 0
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
