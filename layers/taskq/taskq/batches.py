"""The Batch API's batches (spec §6): create, retrieve, list, cancel. A key sees only its own
batches (admin: all); another key's batch answers 404, as an unknown one does. The work —
validating the file and fanning it out into tasks — is the runner's (batch_runner.py), started
asynchronously so create answers at once (docs/design.md "Batches")."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from . import permissions
from .clock import Clock
from .errors import BadRequest, NotFound, StateConflict
from .files import FileService
from .models import QUEUE_NAME, Principal, Role
from .page_limits import MAX_BATCHES_PAGE as MAX_LIST_LIMIT

if TYPE_CHECKING:  # annotations only
    from .requests import BatchCreateRequest
    from .store import DynamoStore

DEFAULT_LEVEL = 1


class BatchStatus(StrEnum):
    VALIDATING = "validating"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


# Each status's timestamp field in the batch object (seconds), set when the status is reached.
STATUS_TIMES = {
    BatchStatus.IN_PROGRESS: "in_progress_at",
    BatchStatus.FINALIZING: "finalizing_at",
    BatchStatus.COMPLETED: "completed_at",
    BatchStatus.FAILED: "failed_at",
    BatchStatus.EXPIRED: "expired_at",
    BatchStatus.CANCELLING: "cancelling_at",
    BatchStatus.CANCELLED: "cancelled_at",
}
CANCELLABLE = frozenset({BatchStatus.VALIDATING, BatchStatus.IN_PROGRESS})


def new_batch_id(now_ms: int) -> str:
    # 13 digits of epoch ms first: string order is creation order (the listing's sort key).
    return f"BATCH-{now_ms:013d}{secrets.token_hex(8)}"


def batch_created_ms(batch_id: str) -> int:
    return int(batch_id[len("BATCH-") : len("BATCH-") + 13])


def batch_file_id(batch_id: str, kind: str) -> str:
    """The id of a batch's output or error file (`kind`): always the same, so a finalization
    that resumes writes the same file again rather than a second one."""
    digest = hashlib.sha256(f"{batch_id}#{kind}".encode()).hexdigest()[:16]
    return f"file-{batch_created_ms(batch_id):013d}{digest}"


def line_task_id(batch_id: str, line: int) -> str:
    """The task of a batch's `line` (0-based): always the same id, so a fan-out that resumes can
    never create a line's task twice (its put is conditional on the id being new). The task-id
    format (`TASK-<13-digit ms>-<16 hex>`) with the batch's creation time."""
    digest = hashlib.sha256(f"{batch_id}#{line}".encode()).hexdigest()[:16]
    return f"TASK-{batch_created_ms(batch_id):013d}-{digest}"


@dataclass(frozen=True)
class Batch:
    batch_id: str
    ak: str
    key_queues: tuple[str, ...]  # the creating key's queue patterns: the queue a line names must be one
    status: BatchStatus
    endpoint: str
    input_file_id: str
    completion_window: str
    metadata: dict[str, str] | None
    queue: str  # from the header at create; else "" until the runner reads the first line's body.model
    level: int
    created_at: int  # seconds, as OpenAI's
    times: dict[str, int] = field(default_factory=dict)  # STATUS_TIMES fields reached
    total: int = 0
    completed: int = 0
    failed: int = 0
    cursor: int = 0  # lines fanned out so far (their tasks exist)
    settled: int = 0  # lines, from the first, whose task has ended (counted in completed/failed)
    errors: list[dict[str, Any]] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None

    @property
    def expires_at(self) -> int:
        return self.created_at + int(self.completion_window[:-1]) * 3600

    @property
    def deadline_ms(self) -> int:
        """The tasks' expire_time: the batch's deadline, in ms from its exact creation time."""
        return batch_created_ms(self.batch_id) + int(self.completion_window[:-1]) * 3_600_000

    @property
    def owner(self) -> Principal:
        """The creating key as far as the runner needs it: which queues its lines may name."""
        return Principal(self.ak, Role.PRODUCER, self.key_queues)

    def reached(self, status: BatchStatus, now_s: int) -> Batch:
        times = dict(self.times)
        if status in STATUS_TIMES:
            times[STATUS_TIMES[status]] = now_s
        return replace(self, status=status, times=times)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.batch_id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": None if self.errors is None else {"object": "list", "data": self.errors},
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status.value,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }
        wire |= {name: self.times.get(name) for name in STATUS_TIMES.values()}
        wire["request_counts"] = {"total": self.total, "completed": self.completed, "failed": self.failed}
        wire["metadata"] = self.metadata
        return wire


class BatchStarter(Protocol):
    """Starts a batch's runner without waiting for it: in AWS an asynchronous invocation of the
    batch function; locally nothing (the server's background job finds the batch within a second)."""

    def start(self, batch_id: str) -> None: ...


class NoStarter:
    def start(self, batch_id: str) -> None:
        return None


class BatchNotFound(NotFound):
    def __init__(self, batch_id: str) -> None:
        super().__init__(f"batch {batch_id} not found")


class BatchService:
    def __init__(self, store: DynamoStore, files: FileService, clock: Clock, starter: BatchStarter) -> None:
        self._store = store
        self._files = files
        self._clock = clock
        self._starter = starter

    def create(self, caller: Principal, request: BatchCreateRequest, queue: str | None, level: str | None) -> Batch:
        permissions.require_role(caller, permissions.PRODUCERS, "creating a batch")
        if queue is not None:
            if not QUEUE_NAME.fullmatch(queue):
                raise BadRequest(f"X-Taskq-Queue: {queue!r} is not a queue name")
            permissions.require_queue(caller, queue, permissions.PRODUCERS, "creating a batch")
        try:
            level_value = DEFAULT_LEVEL if level is None else int(level)
        except ValueError as e:
            raise BadRequest(f"X-Taskq-Level: {level!r} is not an integer") from e
        if not 1 <= level_value <= 9:
            raise BadRequest("X-Taskq-Level: batch tasks are offline: 1 to 9")
        try:
            self._files.get(caller, request.input_file_id)
        except NotFound as e:
            raise NotFound(f"input_file_id: file {request.input_file_id} not found") from e
        now = self._clock.now_ms()
        batch = Batch(
            batch_id=new_batch_id(now),
            ak=caller.ak,
            key_queues=("*",) if caller.is_admin else caller.queues,
            status=BatchStatus.VALIDATING,
            endpoint=request.endpoint,
            input_file_id=request.input_file_id,
            completion_window=request.completion_window,
            metadata=request.metadata,
            queue=queue or "",
            level=level_value,
            created_at=now // 1000,
        )
        self._store.put_batch(batch)
        self._starter.start(batch.batch_id)
        return batch

    def get(self, caller: Principal, batch_id: str) -> Batch:
        batch = self._store.get_batch(batch_id)
        if batch is None or not permissions.owns(caller, batch.ak):
            raise BatchNotFound(batch_id)
        return batch

    def list(self, caller: Principal, after: str | None, limit: int) -> dict[str, Any]:
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise BadRequest(f"limit: must be between 1 and {MAX_LIST_LIMIT}")
        batches, has_more = self._store.list_batches(permissions.owner_filter(caller), after, limit)
        data = [b.to_wire() for b in batches]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }

    def cancel(self, caller: Principal, batch_id: str) -> Batch:
        """`cancelling`; the runner cancels the waiting tasks. Cancelling twice is harmless."""
        batch = self.get(caller, batch_id)
        if batch.status in (BatchStatus.CANCELLING, BatchStatus.CANCELLED):
            return batch
        if batch.status not in CANCELLABLE:
            raise StateConflict(f"batch {batch_id} is already {batch.status.value}")
        cancelling = batch.reached(BatchStatus.CANCELLING, self._clock.now_ms() // 1000)
        if not self._store.move_batch(batch, cancelling, start_run=True):
            return self.cancel(caller, batch_id)  # it moved meanwhile (validated, or failed): decide again
        self._starter.start(batch_id)
        return cancelling
