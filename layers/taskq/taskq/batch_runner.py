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
from .batch_output import output_lines
from .batches import Batch, BatchStarter, BatchStatus, batch_file_id, line_task_id
from .clock import Clock
from .config import file_retention_seconds
from .files import FileInfo
from .models import QUEUE_NAME, ResponseMode, Status, Task
from .store.keys import ready_shard

if TYPE_CHECKING:
    from .store import DynamoStore, FileObjects

CHUNK = 100  # tasks written between two cursor moves (one transaction): a resumed run redoes at most these
SETTLE_PAGE = 100  # tasks read per BatchGetItem while settling and finalizing


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
                if self._clock.now_ms() >= batch.deadline_ms:
                    self._finalize(batch, BatchStatus.EXPIRED)
                elif batch.cursor < batch.total:
                    return self._fan_out(batch, until_ms)
                elif self._settle(batch, batch.total):
                    self._finalize(batch, BatchStatus.COMPLETED)
            elif batch.status is BatchStatus.CANCELLING:
                if self._cancel(batch) and self._settle(batch, batch.total):
                    self._finalize(batch, BatchStatus.CANCELLED)
            elif batch.status is BatchStatus.FINALIZING:
                self._finalize(batch, BatchStatus.COMPLETED)  # a finalization that died: again
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
        # The queue-level's ready shards, read once per run: a raise reaches the next run
        # (a minute), and an older count only spreads less (docs/design.md "Sharded queue heads").
        registration = self._store.queue_registrations([batch.queue]).get(batch.queue)
        shards = registration.shards_of(batch.level) if registration is not None else 1
        while cursor < batch.total:
            if self._clock.now_ms() >= until_ms:
                return True  # the next run continues from the cursor
            following = min(cursor + CHUNK, batch.total)
            now = self._clock.now_ms()
            tasks = [self._task(batch, line, lines[line], now) for line in range(cursor, following)]
            self._store.put_new_tasks([replace(task, shard=ready_shard(task.task_id, shards)) for task in tasks])
            if not self._store.advance_cursor(batch.batch_id, self._owner, cursor, following):
                return False  # cancelled meanwhile: the cancel covers this chunk too
            cursor = following
        return False  # the batch stays on the worklist: its settling and finalization follow

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

    def _cancel(self, batch: Batch) -> bool:
        """Cancels every waiting task of the batch not settled yet: the lines up to the cursor,
        and the chunk after it, which a run stopped by the cancel may have written. Running
        tasks may finish. A batch cancelled before any task existed is `cancelled` at once
        (False: nothing left to settle or write)."""
        if batch.total == 0:
            now_s = self._clock.now_ms() // 1000
            self._store.move_batch(batch, batch.reached(BatchStatus.CANCELLED, now_s), end_run=True)
            return False
        for line in range(batch.settled, min(batch.total, batch.cursor + CHUNK)):
            task = self._store.get_task(line_task_id(batch.batch_id, line))
            while task is not None and task.status is Status.WAITING:
                if self._store.finish(task, Status.CANCELLED, self._clock.now_ms(), result_lease=None):
                    break
                task = self._store.get_task(task.task_id)  # taken meanwhile: it may finish
        return True

    def _settle(self, batch: Batch, limit: int) -> bool:
        """Moves the settled cursor over the lines, from the first, whose task has ended, counting
        them in `request_counts` (a 2xx end is completed, any other failed); stops at the first
        task still waiting or running. True when every line up to `limit` has settled. Tasks never
        leave a final status, so what is settled stays settled; a cancelled batch's line that
        was never fanned out settles as failed."""
        position, completed, failed = batch.settled, batch.completed, batch.failed
        while position < limit:
            ids = [line_task_id(batch.batch_id, i) for i in range(position, min(position + SETTLE_PAGE, limit))]
            tasks = self._store.get_tasks(ids)
            for task_id in ids:
                task = tasks.get(task_id)
                if task is None and batch.status is not BatchStatus.CANCELLING:
                    break  # not written yet
                if task is not None and not task.status.is_final:
                    break
                succeeded = task is not None and task.status is Status.SUCCEEDED
                completed, failed = completed + succeeded, failed + (not succeeded)
                position += 1
            else:
                continue
            break
        if position != batch.settled:
            self._store.settle_batch(batch.batch_id, batch.settled, position, completed, failed)
        return position >= limit

    def _finalize(self, batch: Batch, final: BatchStatus) -> None:
        """Writes the output and error files (every line in exactly one) and ends the batch in
        `final`. Resumable: the file ids follow from the batch id, and the batch moves to
        `final` only after both files exist."""
        now_s = self._clock.now_ms() // 1000
        if final is BatchStatus.COMPLETED and batch.status is BatchStatus.IN_PROGRESS:
            finalizing = batch.reached(BatchStatus.FINALIZING, now_s)
            if not self._store.move_batch(batch, finalizing):
                return
            batch = finalizing
        lines, _ = self._lines(batch)
        custom_ids: list[str | None] = (
            [line.custom_id for line in lines] if len(lines) == batch.total else [None] * batch.total
        )
        tasks: list[Task | None] = []
        for start in range(0, batch.total, SETTLE_PAGE):
            ids = [line_task_id(batch.batch_id, i) for i in range(start, min(start + SETTLE_PAGE, batch.total))]
            found = self._store.get_tasks(ids)
            tasks += [found.get(i) for i in ids]
        results = {}
        for task in tasks:
            if task is not None and task.status.is_final and task.result_lease:
                result = self._store.task_result(task.task_id, task.result_lease, task)
                if result is not None:
                    results[task.task_id] = result
        output, errors = output_lines(custom_ids, tasks, results, final.value)
        ended = replace(
            batch.reached(final, now_s),
            output_file_id=self._write(batch, "output", output, now_s),
            error_file_id=self._write(batch, "error", errors, now_s),
            completed=len(output),
            failed=len(errors),
            settled=batch.total,
        )
        self._store.move_batch(batch, ended, end_run=True, counts=True)

    def _write(self, batch: Batch, kind: str, lines: list[str], now_s: int) -> str | None:
        """Writes the file, streamed line by line into S3 (multipart beyond the objects' part
        size, so no second copy of a 50 MB output is built), then its record. Run again after a
        crash, it writes the same id afresh: an abandoned multipart upload is never seen (the
        bucket's lifecycle drops it) and the record is put once."""
        if not lines:
            return None
        file_id = batch_file_id(batch.batch_id, kind)
        size = self._objects.write(file_id, ((line + "\n").encode() for line in lines), "application/jsonl")
        info = FileInfo(file_id, batch.ak, size, f"{batch.batch_id}_{kind}.jsonl", f"batch_{kind}", now_s)
        self._store.put_file(info, now_s + file_retention_seconds(), exists_ok=True)
        return info.file_id


def run_event(runner: BatchRunner, starter: BatchStarter, event: dict[str, Any], until_ms: int) -> None:
    """The batch function's event: `{"batch_id"}` (create, cancel, a run continuing itself) runs
    that batch, and starts the next run when time ran out first; anything else (the schedule)
    runs every batch with work left."""
    batch_id = event.get("batch_id")
    if not isinstance(batch_id, str):
        runner.run_all(until_ms)
    elif runner.run(batch_id, until_ms):
        starter.start(batch_id)
