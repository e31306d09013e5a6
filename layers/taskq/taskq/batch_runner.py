"""The work behind a batch (docs/design.md "Batches"): validate its file, fan it out into tasks,
cancel its waiting tasks. Runs in the batch function (AWS: invoked asynchronously at create and
cancel, and every minute for what is left) or the local server's background job.

Resumable at any line without creating a task twice: line i's task id is fixed
(`batches.line_task_id`) and its put is conditional on the id being new; the cursor on the batch
moves forward after each chunk, conditional on where it stood. A run that dies anywhere leaves
the cursor at or behind what exists, and the next run continues from it."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .batch_lines import BatchLine, LineError, read_lines
from .batches import Batch, BatchStarter, BatchStatus, line_task_id
from .clock import Clock
from .models import QUEUE_NAME, ResponseMode, Status, Task

if TYPE_CHECKING:
    from .store import DynamoStore, FileObjects

CHUNK = 25  # tasks written between two cursor moves: a resumed run redoes at most this many puts


class BatchRunner:
    def __init__(self, store: DynamoStore, objects: FileObjects, clock: Clock) -> None:
        self._store = store
        self._objects = objects
        self._clock = clock
        self._owner = f"run-{secrets.token_hex(8)}"

    def run_all(self, until_ms: int) -> None:
        """Every batch with work left, oldest first, until `until_ms`."""
        for batch_id in self._store.batch_runs():
            if self._clock.now_ms() >= until_ms:
                return
            self.run(batch_id, until_ms)

    def run(self, batch_id: str, until_ms: int) -> bool:
        """Works on the batch until done or `until_ms`; True when its fan-out stopped for time
        (the caller starts another run)."""
        now = self._clock.now_ms()
        batch = self._store.get_batch(batch_id)
        if batch is None:
            self._store.end_batch_run(batch_id)
            return False
        if not self._store.take_run_lease(batch_id, self._owner, now, until_ms):
            return False  # another runner works on it; its lease ends by until_ms at the latest
        try:
            batch = self._store.get_batch(batch_id) or batch  # as it stands under the lease
            if batch.status is BatchStatus.VALIDATING:
                return self._validate(batch, until_ms)
            if batch.status is BatchStatus.IN_PROGRESS:
                return self._fan_out(batch, until_ms)
            if batch.status is BatchStatus.CANCELLING:
                self._cancel(batch)
            else:
                self._store.end_batch_run(batch_id)
            return False
        finally:
            self._store.release_run_lease(batch_id, self._owner)

    def _lines(self, batch: Batch) -> tuple[list[BatchLine], list[LineError]]:
        content = self._objects.get(batch.input_file_id)
        if content is None:
            return [], [LineError(0, "invalid_file", f"input_file_id: file {batch.input_file_id} is gone")]
        return read_lines(content, batch.endpoint)

    def _validate(self, batch: Batch, until_ms: int) -> bool:
        """validating → in_progress (queue and total set), or → failed with `errors` naming the
        lines; no task exists before this succeeds."""
        lines, errors = self._lines(batch)
        queue = batch.queue
        if not errors and not queue:
            model = lines[0].body.get("model")
            queue = model if isinstance(model, str) else ""
            if not QUEUE_NAME.fullmatch(queue):
                errors = [LineError(1, "invalid_queue", "no X-Taskq-Queue header and no usable body.model", "model")]
        if not errors and not batch.owner.covers(queue):
            errors = [LineError(1, "invalid_queue", f"queue {queue!r} is outside this key's queues", "model")]
        if not errors and not self._store.queue_endpoints([queue]):
            errors = [LineError(1, "invalid_queue", f"queue {queue!r} is not registered", "model")]
        now_s = self._clock.now_ms() // 1000
        if errors:
            failed = replace(batch.reached(BatchStatus.FAILED, now_s), errors=[e.to_wire() for e in errors])
            self._store.move_batch(batch, failed, end_run=True)
            return False
        started = replace(batch.reached(BatchStatus.IN_PROGRESS, now_s), queue=queue, total=len(lines))
        return self._store.move_batch(batch, started) and self._fan_out(started, until_ms, lines)

    def _fan_out(self, batch: Batch, until_ms: int, lines: list[BatchLine] | None = None) -> bool:
        if lines is None:
            lines, errors = self._lines(batch)
            if errors:  # the file was deleted after validation: what exists stays, no more
                return False
        cursor = batch.cursor
        while cursor < batch.total:
            if self._clock.now_ms() >= until_ms:
                return True  # the next run continues from the cursor
            following = min(cursor + CHUNK, batch.total)
            now = self._clock.now_ms()
            for line in range(cursor, following):
                self._store.put_new_task(self._task(batch, line, lines[line], now))
            if not self._store.advance_cursor(batch.batch_id, self._owner, cursor, following):
                return False  # cancelled meanwhile: the cancel covers this chunk too
            cursor = following
        self._store.end_batch_run(batch.batch_id)
        return False

    @staticmethod
    def _task(batch: Batch, line: int, request: BatchLine, now: int) -> Task:
        return Task(
            task_id=line_task_id(batch.batch_id, line),
            ak=batch.ak,
            queue=batch.queue,
            level=batch.level,
            endpoint=batch.endpoint,
            data=request.body,
            status=Status.WAITING,
            start_time=now,
            expire_time=batch.deadline_ms,
            response_mode=ResponseMode.BATCH,
            batch_id=batch.batch_id,
            trace_id=batch.batch_id,
            custom_id=request.custom_id,
        )

    def _cancel(self, batch: Batch) -> None:
        """Cancels every waiting task of the batch: the lines up to the cursor, and the chunk
        after it, which a run stopped by the cancel may have written. Running tasks may finish.
        A batch cancelled before any task existed is `cancelled` at once."""
        if batch.total == 0:
            self._store.move_batch(
                batch, batch.reached(BatchStatus.CANCELLED, self._clock.now_ms() // 1000), end_run=True
            )
            return
        for line in range(min(batch.total, batch.cursor + CHUNK)):
            task = self._store.get_task(line_task_id(batch.batch_id, line))
            while task is not None and task.status is Status.WAITING:
                if self._store.finish(task, Status.CANCELLED, self._clock.now_ms(), result_lease=None):
                    break
                task = self._store.get_task(task.task_id)  # taken meanwhile: it may finish
        self._store.end_batch_run(batch.batch_id)


def run_event(runner: BatchRunner, starter: BatchStarter, event: dict[str, Any], until_ms: int) -> None:
    """The batch function's event: `{"batch_id"}` (create, cancel, a run continuing itself) runs
    that batch, and starts the next run when time ran out first; anything else (the schedule)
    runs every batch with work left."""
    batch_id = event.get("batch_id")
    if not isinstance(batch_id, str):
        runner.run_all(until_ms)
    elif runner.run(batch_id, until_ms):
        starter.start(batch_id)
