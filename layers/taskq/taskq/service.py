"""The queue service: one function per API operation. Authorizes, applies the rules of the spec,
and leaves every DynamoDB detail to the store."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import permissions
from .clock import Clock
from .contention import ClaimSpread
from .errors import BadRequest, LeaseConflict, PayloadTooLarge, QueueNotFound, StateConflict
from .ids import new_instance_id, new_task_id
from .leases import RETRIES_EXHAUSTED_RESULT_KEY, lease_until, retries_exhausted_result, retries_remain
from .marker_cache import ClearMarkerCache
from .models import Principal, QueueLevel, Registration, ResponseMode, Status, Task, WorkerEvent
from .online import rules as online
from .permissions import ANY_ROLE, PRODUCERS, WORKERS
from .requests import (
    MAX_INT_DIGITS,
    EventsRequest,
    HeartbeatRequest,
    PutRequest,
    RegisterRequest,
    RetryRequest,
    ShardsRequest,
    TakeRequest,
)
from .store import DynamoStore, IdempotencyRecord, NewTask, PutOutcome, body_hash
from .store.keys import ready_shard
from .store.transitions import INLINE_RESULT_BYTES
from .take import TakeRun
from .telemetry import NO_TELEMETRY, Telemetry

if TYPE_CHECKING:  # imported where used: a take or a complete needs neither (cold start)
    from .callbacks import CallbackGuard
    from .online.watch import TaskWatch

MAX_PAYLOAD_BYTES = 256 * 1024
DEFAULT_TIMEOUT_SECONDS = {"callback": 86_400, "blocking": 300, "streaming": 300}
# Rounds of re-reading a task whose state changed between our read and our conditional write.
MAX_STATE_RETRIES = 5
# How long an instance uses a registration it read (its shard counts may be raised meanwhile):
# a raise reaches every put and take within this bound (docs/design.md "Sharded queue heads").
REGISTRATION_REREAD_MS = 120_000


def payload_bytes(field: str, value: Any, limit: int = MAX_PAYLOAD_BYTES) -> int:
    """The UTF-8 size of `value` as stored; 413 above the limit, 400 for text that is not
    valid Unicode (a lone surrogate, which JSON's \\u escapes can carry)."""
    try:
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    except UnicodeEncodeError as e:
        raise BadRequest(f"{field}: contains a lone surrogate, which is not valid Unicode") from e
    if size > limit:
        raise PayloadTooLarge(f"{field}: {size} bytes serialized, at most {limit} allowed")
    return size


def check_event_sizes(events: list[WorkerEvent]) -> None:
    """Each event at most 64 KiB and all of them at most 256 KiB, serialized (spec §4.3); 413."""
    wire = [{"id": e.id, "event": e.event, "data": e.data} for e in events]
    for i, event in enumerate(wire):
        payload_bytes(f"events.{i}", event, online.MAX_EVENT_BYTES)
    payload_bytes("events", wire)


def final_status_of(result: dict[str, Any]) -> Status:
    """succeeded when `status_code` is absent or 2xx (a number or a numeric string), else failed."""
    code = result.get("status_code")
    if code is None:
        return Status.SUCCEEDED
    numeric_text = isinstance(code, str) and code.strip().isascii() and code.strip().isdigit()
    if isinstance(code, bool) or not (isinstance(code, int) or numeric_text):
        raise BadRequest("status_code: must be an integer or a numeric string")
    if numeric_text and len(code.strip()) > MAX_INT_DIGITS:
        raise BadRequest(f"status_code: a numeric string of more than {MAX_INT_DIGITS} digits")
    return Status.SUCCEEDED if 200 <= int(code) <= 299 else Status.FAILED


class QueueService:
    def __init__(
        self,
        store: DynamoStore,
        clock: Clock,
        instance_id: str | None = None,
        *,
        callback_guard: CallbackGuard | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
        shard_query_workers: int = 1,
    ) -> None:
        self._store = store
        # Threads a take reads a sharded queue's shard heads with (take.py); 1 sends them in turn.
        self._shard_query_workers = shard_query_workers
        self._clock = clock
        self._instance_id = instance_id or new_instance_id()
        self._callback_guard = callback_guard  # built by the first put that names a callback_url
        self._telemetry = telemetry
        # Registrations are never removed and their endpoint never changes, but their shard
        # counts may be raised: each is used for REGISTRATION_REREAD_MS from its read.
        self._registered: dict[str, tuple[Registration, int]] = {}
        # How widely this instance spreads its claims: wider while it loses them to other takers.
        self._spread = ClaimSpread()
        # Clear markers read by earlier takes, trusted for a bounded time (marker_cache.py).
        self._clear_markers = ClearMarkerCache()

    def now_ms(self) -> int:
        return self._clock.now_ms()

    # --- queues ------------------------------------------------------------------------------

    def register(self, principal: Principal, request: RegisterRequest) -> str:
        permissions.require_admin(principal, "register")
        now = self._clock.now_ms()
        registration = self._store.register_queue(request.queue, request.endpoint, now)
        self._registered[request.queue] = (registration, now)
        return request.queue

    def metadata(self, principal: Principal, queue: str) -> dict[str, str]:
        permissions.require_queue(principal, queue, ANY_ROLE, "metadata")
        return {"queue": queue, "endpoint": self._require_registered([queue])[queue]}

    def raise_shards(self, principal: Principal, queue_text: str, request: ShardsRequest) -> dict[str, Any]:
        """`POST /v1/console/{queue_level}/shards`: the registration with the new ready shard
        count; 404 for a queue not registered, 409 for a count below the registered one (the
        same count is a repeat, answered alike). Other instances see it within
        REGISTRATION_REREAD_MS (docs/design.md "Sharded queue heads")."""
        permissions.require_admin(principal, "console")
        from .console import parse_queue_level  # the console's, only this admin route's

        queue = parse_queue_level(queue_text)
        registration = self._store.raise_shards(queue, request.shards)
        self._registered[queue.name] = (registration, self._clock.now_ms())
        return {
            "queue": queue.name,
            "level": queue.level,
            "endpoint": registration.endpoint,
            "shards": registration.shards_of(queue.level),
        }

    def _require_registered(self, names: list[str]) -> dict[str, str]:
        return {name: r.endpoint for name, r in self._registrations(names).items()}

    def _registrations(self, names: list[str]) -> dict[str, Registration]:
        """The registrations of `names` (404 for one that is not registered)."""
        self.learn_registrations(names)
        for name in names:
            if name not in self._registered:
                raise QueueNotFound(name)
        return {n: self._registered[n][0] for n in names}

    def _shards(self, queues: list[QueueLevel]) -> list[int]:
        registrations = self._registrations([q.name for q in queues])
        return [registrations[q.name].shards_of(q.level) for q in queues]

    # --- put ---------------------------------------------------------------------------------

    def put(self, principal: Principal, request: PutRequest, idempotency_key: str | None = None) -> str:
        new = self.new_task(principal, request, idempotency_key)
        task_id = self._store.put_task(new.task, new.idempotency, new.task.start_time)
        self.count_put(new.task, task_id)
        return task_id

    def new_task(
        self, principal: Principal, request: PutRequest, idempotency_key: str | None = None, task_id: str | None = None
    ) -> NewTask:
        """The task a put creates (and its idempotency record), after every check of a put:
        the key's queues, registration, online rules, sizes, the key, the callback URL."""
        permissions.require_queue(principal, request.queue, PRODUCERS, "put")
        [shards] = self._shards([QueueLevel(request.queue, request.level)])
        online.check_put(request)
        payload_bytes("data", request.data)
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 128:
            raise BadRequest("Idempotency-Key: must be 1 to 128 characters")
        if request.callback_url:
            self._callback_url_guard().check(request.callback_url)

        now = self._clock.now_ms()
        timeout = request.timeout or DEFAULT_TIMEOUT_SECONDS[request.response_mode]
        task_id = task_id or new_task_id(now)
        task = Task(
            task_id=task_id,
            ak=principal.ak,
            queue=request.queue,
            level=request.level,
            endpoint=request.endpoint,
            data=request.data,
            status=Status.WAITING,
            start_time=now,
            expire_time=now + timeout * 1000,
            response_mode=ResponseMode(request.response_mode),
            callback_url=request.callback_url,
            trace_id=request.trace_id,
            instance_id=self._instance_id if request.level == 0 else "",
            shard=ready_shard(task_id, shards),
        )
        record = None
        if idempotency_key is not None:
            record = IdempotencyRecord(principal.ak, idempotency_key, body_hash(request.model_dump(mode="json")))
        return NewTask(task, record)

    def count_put(self, task: Task, task_id: str) -> None:
        self._telemetry.count("TasksPut")
        self._telemetry.log("task put", task_id=task_id, queue=str(task.queue_level))

    def put_new(self, tasks: list[NewTask]) -> list[PutOutcome]:
        """Writes tasks `new_task` made, together (put-batch): per task its id or the conflict."""
        outcomes = self._store.put_tasks(tasks, self._clock.now_ms())
        for new, outcome in zip(tasks, outcomes, strict=True):
            if isinstance(outcome, str):
                self.count_put(new.task, outcome)
        return outcomes

    def learn_registrations(self, names: list[str]) -> None:
        """Reads, in one BatchGetItem, the registrations of `names` this instance has none
        younger than REGISTRATION_REREAD_MS of (a batch's queues: an unknown one stays unknown)."""
        now = self._clock.now_ms()
        stale = sorted(
            {n for n in names if n not in self._registered or now - self._registered[n][1] >= REGISTRATION_REREAD_MS}
        )
        if stale:
            found = self._store.queue_registrations(stale)
            self._registered |= {name: (registration, now) for name, registration in found.items()}

    def _callback_url_guard(self) -> CallbackGuard:
        if self._callback_guard is None:
            from .callbacks import CallbackGuard

            self._callback_guard = CallbackGuard.from_env()
        return self._callback_guard

    # --- take --------------------------------------------------------------------------------

    def take(self, principal: Principal, request: TakeRequest) -> dict[str, list[dict[str, Any]]]:
        queues = request.queue_levels
        for queue in queues:
            permissions.require_queue(principal, queue.name, WORKERS, "take")
        shards = self._shards(queues)
        now = self._clock.now_ms()
        spread = self._spread.width(now)
        run = TakeRun(
            self._store,
            self._clock,
            request,
            queues,
            spread=spread,
            markers=self._clear_markers,
            shards=shards,
            query_workers=self._shard_query_workers,
        )
        taken = run.run()
        if run.interrupted is not None:
            self._telemetry.log("take ended early by a failed store call", error=repr(run.interrupted))
        self._spread.record(now, run.lost_claims, reached=run.spread)
        self._telemetry.count("TasksTaken", sum(map(len, taken)))
        self._telemetry.count("ClaimConflicts", run.lost_claims)
        for queue, tasks in zip(queues, taken, strict=True):
            if tasks:
                self._telemetry.log("tasks taken", queue=str(queue), task_ids=[t.task_id for t in tasks])
        return {str(queues[i]): [t.to_wire() for t in tasks] for i, tasks in enumerate(taken) if tasks}

    # --- task routes -------------------------------------------------------------------------

    def get(self, principal: Principal, task_id: str) -> dict[str, Any]:
        task = permissions.visible(principal, self._store.get_task(task_id), task_id)
        if task.status.is_final and task.result_lease:
            task.result = self._store.task_result(task.task_id, task.result_lease, task)
        return task.to_wire()

    def complete(self, principal: Principal, task_id: str, result: dict[str, Any], lease_id: str | None = None) -> str:
        """One conditional write in the common case (a worker's key, the lease, a result stored
        inline): the lease fences the task, and the key's role and queues are checked before or
        in that write. Only when its condition fails does a read decide (docs/design.md
        "Completing, cancelling and fencing")."""
        inline = payload_bytes("result", result) <= INLINE_RESULT_BYTES
        requested = final_status_of(result)  # a bad status_code is a 400 even when an earlier result wins
        scope = permissions.queue_scope(principal) if principal.role in WORKERS else None
        if lease_id is not None and inline and scope is not None:
            done = self._store.complete_running(task_id, lease_id, requested, result, self.now_ms(), scope)
            if done.applied:
                return self._completed(task_id, requested, done.queue)
            task = permissions.visible(principal, done.task, task_id)  # a worker's key: 404 or on
        else:
            task = self._worker_task(principal, task_id, "complete")
        for _ in range(MAX_STATE_RETRIES):
            if lease_id is not None:
                require_lease(task, lease_id)
            if task.status in (Status.SUCCEEDED, Status.FAILED) and task.result_lease == task.lease_id:
                return task_id  # an idempotent repeat: nothing changes, no second callback
            if task.status is not Status.RUNNING:
                raise StateConflict(f"task {task_id} is {task.status.value}, not running")
            now = self._clock.now_ms()
            if inline:  # one write (a transaction with the lock's release for a lock holder)
                status, stored = requested, result
            else:
                # A large result gets its own item first; the first one written under the lease
                # wins (a concurrent or crashed complete may have written one), and the status
                # follows the result stored, never this request.
                status, stored = final_status_of(self._store.put_result(task_id, task.lease_id, result, now)), None
            if self._store.finish(task, status, now, result_lease=task.lease_id, result=stored):
                return self._completed(task_id, status, str(task.queue_level))
            task = permissions.visible(principal, self._store.get_task(task_id), task_id)
        raise StateConflict(f"task {task_id} keeps changing; retry")

    def _completed(self, task_id: str, status: Status, queue: str) -> str:
        self._telemetry.count("TasksCompleted")
        self._telemetry.log("task completed", task_id=task_id, queue=queue, status=status.value)
        return task_id

    def cancel(self, principal: Principal, task_id: str) -> str:
        task = permissions.visible(principal, self._store.get_task(task_id), task_id)
        permissions.require_owner(principal, task, "cancel")
        for _ in range(MAX_STATE_RETRIES):
            if task.status is Status.CANCELLED:
                return task_id
            if task.status.is_final:
                raise StateConflict(f"task {task_id} is already {task.status.value}")
            if self._store.finish(task, Status.CANCELLED, self._clock.now_ms(), result_lease=None):
                return task_id
            task = permissions.visible(principal, self._store.get_task(task_id), task_id)
        raise StateConflict(f"task {task_id} keeps changing; retry")

    def heartbeat(self, principal: Principal, task_id: str, lease_id: str, request: HeartbeatRequest) -> dict[str, Any]:
        """Extends a live lease to now + process_timeout (the take's, unless given), never past
        `expire_time`. 409 when the lease is not the task's current one or has already ended."""
        task = self._worker_task(principal, task_id, "heartbeat")
        for _ in range(MAX_STATE_RETRIES):
            now = self._clock.now_ms()
            require_running_lease(task, lease_id)
            if task.lease_expire_time <= now:
                raise LeaseConflict(f"X-Lease-Id: the lease of task {task_id} has already ended")
            timeout = request.process_timeout or task.process_timeout
            if timeout is None:  # a lease without process_timeout already lasts until expire_time
                return {"task_id": task_id, "lease_expire_time": task.lease_expire_time}
            until = lease_until(now, timeout, task.expire_time)
            if self._store.extend_lease(task, now, until):
                return {"task_id": task_id, "lease_expire_time": until}
            task = self._worker_task(principal, task_id, "heartbeat")
        raise StateConflict(f"task {task_id} keeps changing; retry")

    def retry(self, principal: Principal, task_id: str, lease_id: str, request: RetryRequest) -> str:
        """Ends the lease and gives the task back (waiting again, same start_time, takeable
        after the delay), or ends it `failed` when its retry budget is spent."""
        task = self._worker_task(principal, task_id, "retry")
        for _ in range(MAX_STATE_RETRIES):
            require_running_lease(task, lease_id)
            now = self._clock.now_ms()
            if retries_remain(task):
                done = self._store.requeue(task, visible_time=now + request.delay_seconds * 1000)
            else:
                result = retries_exhausted_result(task, request.reason)
                done = self._store.finish(
                    task, Status.FAILED, now, result_lease=RETRIES_EXHAUSTED_RESULT_KEY, result=result
                )
            if done:
                return task_id
            task = self._worker_task(principal, task_id, "retry")
        raise StateConflict(f"task {task_id} keeps changing; retry")

    # --- online tasks (spec §4.2-4.3; docs/design.md "Online tasks") --------------------------

    def watch(self, principal: Principal, task_id: str) -> TaskWatch:
        """The producer's wait on the online task it just put."""
        from .online.watch import TaskWatch

        task = permissions.visible(principal, self._store.get_task(task_id), task_id)
        return TaskWatch(self._store, self._clock, task)

    def front_door_endpoint(self, principal: Principal, queue: str, named_by: str) -> str:
        """The registered endpoint of the queue a front-door request names (spec §4.5): 403 for a
        key that may not put; 404 alike for a queue not registered or outside the key's queues."""
        from .online import frontdoor

        permissions.require_role(principal, PRODUCERS, "put")
        if not principal.covers(queue):
            raise frontdoor.UnknownQueue(queue, named_by)
        try:
            return self._require_registered([queue])[queue]
        except QueueNotFound as e:
            raise frontdoor.UnknownQueue(queue, named_by) from e

    def resume_stream(self, principal: Principal, task_id: str, last_event_id: str | None) -> TaskWatch:
        """`GET /v1/queue/{task_id}/stream`: the events after `Last-Event-ID`, then live ones.
        Visible as §3.6 says (else 404); a task that is not streaming has no events: 409."""
        from .online.watch import TaskWatch

        after = online.resumed_after(last_event_id or "")
        task = permissions.visible(principal, self._store.get_task(task_id), task_id)
        if task.response_mode is not ResponseMode.STREAMING:
            raise StateConflict(f"task {task_id} is {task.response_mode.value}, not streaming: it has no events")
        return TaskWatch(self._store, self._clock, task, after_seq=after, resumed=True)

    def append_events(
        self, principal: Principal, task_id: str, lease_id: str, request: EventsRequest
    ) -> dict[str, Any]:
        """A worker's events for its streaming task, fenced by its lease, deduplicated by id."""
        events = [WorkerEvent(event=e.event, data=e.data, id=e.id) for e in request.events]
        check_event_sizes(events)
        task = self._worker_task(principal, task_id, "events")
        require_running_lease(task, lease_id)
        if task.response_mode is not ResponseMode.STREAMING:
            raise StateConflict(f"task {task_id} is {task.response_mode.value}, not streaming: it takes no events")
        accepted = self._store.append_events(task_id, events, ttl=online.events_ttl(task))
        return {"task_id": task_id, "accepted": accepted}

    def _worker_task(self, principal: Principal, task_id: str, action: str) -> Task:
        """The task for a worker's lease operation: 404 unless visible, 403 unless a worker."""
        task = permissions.visible(principal, self._store.get_task(task_id), task_id)
        permissions.require_role(principal, WORKERS, action)
        return task


def require_lease(task: Task, lease_id: str) -> None:
    if lease_id != task.lease_id:
        raise LeaseConflict(f"X-Lease-Id: not the current lease of task {task.task_id}")


def require_running_lease(task: Task, lease_id: str) -> None:
    require_lease(task, lease_id)
    if task.status is not Status.RUNNING:
        raise LeaseConflict(f"X-Lease-Id: task {task.task_id} is {task.status.value}, not running under this lease")
