"""The queue service: one function per API operation. Authorizes, applies the rules of the spec,
and leaves every DynamoDB detail to the store."""

from __future__ import annotations

import json
from typing import Any

from . import permissions, strategies
from .clock import Clock
from .errors import BadRequest, LeaseConflict, NotImplementedYet, PayloadTooLarge, QueueNotFound, StateConflict
from .ids import new_instance_id, new_lease_id, new_task_id
from .models import Principal, QueueLevel, ResponseMode, Status, Strategy, Task
from .permissions import ANY_ROLE, PRODUCERS, WORKERS
from .requests import PutRequest, RegisterRequest, TakeRequest
from .store import ClaimOutcome, DynamoStore, IdempotencyRecord, Lease, body_hash

MAX_PAYLOAD_BYTES = 256 * 1024
DEFAULT_TIMEOUT_SECONDS = {"callback": 86_400, "blocking": 300, "streaming": 300}
# Candidates read beyond `size` per queue, so a claim lost to a concurrent taker has a stand-in.
CLAIM_SLACK = 4
# Extra rounds of reading candidates when every stand-in was lost to concurrent takers.
MAX_TAKE_ROUNDS = 3
# Rounds of re-reading a task whose state changed between our read and our conditional write.
MAX_STATE_RETRIES = 5


def payload_bytes(field: str, value: Any) -> int:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"{field}: {size} bytes serialized, at most {MAX_PAYLOAD_BYTES} allowed")
    return size


def final_status_of(result: dict[str, Any]) -> Status:
    """succeeded when `status_code` is absent or 2xx (a number or a numeric string), else failed."""
    code = result.get("status_code")
    if code is None:
        return Status.SUCCEEDED
    if isinstance(code, bool) or not (isinstance(code, int) or (isinstance(code, str) and code.strip().isdigit())):
        raise BadRequest("status_code: must be an integer or a numeric string")
    return Status.SUCCEEDED if 200 <= int(code) <= 299 else Status.FAILED


class QueueService:
    def __init__(self, store: DynamoStore, clock: Clock, instance_id: str | None = None) -> None:
        self._store = store
        self._clock = clock
        self._instance_id = instance_id or new_instance_id()
        # Registrations are never removed, so a registered queue may be remembered for good.
        self._registered: dict[str, str] = {}

    def now_ms(self) -> int:
        return self._clock.now_ms()

    # --- queues ------------------------------------------------------------------------------

    def register(self, principal: Principal, request: RegisterRequest) -> str:
        permissions.require_admin(principal, "register")
        self._store.register_queue(request.queue, request.endpoint, self._clock.now_ms())
        self._registered[request.queue] = request.endpoint
        return request.queue

    def metadata(self, principal: Principal, queue: str) -> dict[str, str]:
        permissions.require_queue(principal, queue, ANY_ROLE, "metadata")
        return {"queue": queue, "endpoint": self._require_registered([queue])[queue]}

    def _require_registered(self, names: list[str]) -> dict[str, str]:
        missing = [n for n in names if n not in self._registered]
        if missing:
            self._registered |= self._store.queue_endpoints(missing)
        for name in names:
            if name not in self._registered:
                raise QueueNotFound(name)
        return {n: self._registered[n] for n in names}

    # --- put ---------------------------------------------------------------------------------

    def put(self, principal: Principal, request: PutRequest, idempotency_key: str | None = None) -> str:
        permissions.require_queue(principal, request.queue, PRODUCERS, "put")
        self._require_registered([request.queue])
        if request.response_mode != "callback":
            raise NotImplementedYet(f"response_mode: {request.response_mode!r} is not available yet (phase 2)")
        payload_bytes("data", request.data)
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 128:
            raise BadRequest("Idempotency-Key: must be 1 to 128 characters")

        now = self._clock.now_ms()
        timeout = request.timeout or DEFAULT_TIMEOUT_SECONDS[request.response_mode]
        task = Task(
            task_id=new_task_id(now),
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
        )
        record = None
        if idempotency_key is not None:
            record = IdempotencyRecord(principal.ak, idempotency_key, body_hash(request.model_dump(mode="json")))
        return self._store.put_task(task, record, now)

    # --- take --------------------------------------------------------------------------------

    def take(self, principal: Principal, request: TakeRequest) -> dict[str, list[dict[str, Any]]]:
        queues = request.queue_levels
        for queue in queues:
            permissions.require_queue(principal, queue.name, WORKERS, "take")
        self._require_registered([q.name for q in queues])
        taken = _Take(self._store, self._clock.now_ms(), request, queues).run()
        return {str(queues[i]): [t.to_wire() for t in tasks] for i, tasks in enumerate(taken) if tasks}

    # --- task routes -------------------------------------------------------------------------

    def get(self, principal: Principal, task_id: str) -> dict[str, Any]:
        task = permissions.visible(principal, self._store.get_task(task_id), task_id)
        if task.status.is_final and task.result_lease:
            task.result = self._store.get_result(task.task_id, task.result_lease)
        return task.to_wire()

    def complete(self, principal: Principal, task_id: str, result: dict[str, Any], lease_id: str | None = None) -> str:
        payload_bytes("result", result)
        status = final_status_of(result)
        task = permissions.visible(principal, self._store.get_task(task_id), task_id)
        permissions.require_role(principal, WORKERS, "complete")
        for _ in range(MAX_STATE_RETRIES):
            if lease_id is not None and lease_id != task.lease_id:
                raise LeaseConflict(f"X-Lease-Id: not the current lease of task {task_id}")
            if task.status in (Status.SUCCEEDED, Status.FAILED):
                return task_id  # an idempotent repeat: nothing changes, no second callback
            if task.status is not Status.RUNNING:
                raise StateConflict(f"task {task_id} is {task.status.value}, not running")
            now = self._clock.now_ms()
            self._store.put_result(task_id, task.lease_id, result, now)
            if self._store.finish(task, status, now, result_lease=task.lease_id):
                return task_id
            task = permissions.visible(principal, self._store.get_task(task_id), task_id)
        raise StateConflict(f"task {task_id} keeps changing; retry")

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


class _Take:
    """One take call: read candidates, plan with the strategy, claim, and re-read only when
    concurrent takers won the candidates we had."""

    def __init__(self, store: DynamoStore, now: int, request: TakeRequest, queues: list[QueueLevel]) -> None:
        self.store = store
        self.now = now
        self.request = request
        self.queues = queues
        self.strategy = request.strategy
        self.taken: list[list[Task]] = [[] for _ in queues]
        self.served: list[int] = []  # queue index of each claim, in claim order
        self.tried: set[str] = set()
        self.closed = [False] * len(queues)  # sequential: locked, or served once in this call

    def run(self) -> list[list[Task]]:
        cursor = 0
        if self.strategy is Strategy.ROUND_ROBIN:
            cursor = self.store.get_cursor(self.queues)
        if self.strategy is Strategy.SEQUENTIAL:
            held = self.store.held_locks(self.queues, self.now)
            self.closed = [q in held for q in self.queues]

        for _ in range(MAX_TAKE_ROUNDS):
            missing = self.request.size - len(self.served)
            candidates = self._read_candidates(missing + CLAIM_SLACK)
            round_cursor = strategies.next_cursor(self.served, cursor, len(self.queues))
            plan = strategies.plan(self.strategy, candidates, cursor=round_cursor, locked=self.closed)
            lost_any = self._claim(plan)
            if len(self.served) == self.request.size or not lost_any:
                break

        if self.strategy is Strategy.ROUND_ROBIN and self.served:
            new_cursor = strategies.next_cursor(self.served, cursor, len(self.queues))
            if new_cursor != cursor:
                self.store.set_cursor(self.queues, new_cursor)
        if self.strategy is not Strategy.ROUND_ROBIN:
            for tasks in self.taken:
                tasks.sort(key=lambda t: (t.start_time, t.task_id))
        return self.taken

    def _read_candidates(self, limit: int) -> list[list[Any]]:
        request = self.request
        put_before = None if request.min_age_seconds is None else self.now - request.min_age_seconds * 1000
        found = []
        for i, queue in enumerate(self.queues):
            if self.closed[i]:
                found.append([])
                continue
            ready = self.store.find_ready(
                queue, self.now, limit + len(self.tried), endpoint=request.endpoint, put_before=put_before
            )
            # The index lags behind claims: skip what this call already tried.
            found.append([c for c in ready if c.task_id not in self.tried])
        return found

    def _claim(self, plan: strategies.Plan) -> bool:
        """Claims along the plan until `size`; True when a candidate was lost to someone else."""
        lost_any = False
        for attempt in plan.attempts:
            if len(self.served) == self.request.size:
                break
            i, candidate = attempt.queue_index, attempt.candidate
            if self.closed[i] or candidate.task_id in self.tried:
                continue
            self.tried.add(candidate.task_id)
            outcome, task = self.store.claim(
                candidate.task_id, self.now, self._lease(candidate.expire_time), self._lock_for(i)
            )
            if outcome is ClaimOutcome.CLAIMED and task is not None:
                self.taken[i].append(task)
                self.served.append(i)
                if plan.per_queue_cap is not None and len(self.taken[i]) >= plan.per_queue_cap:
                    self.closed[i] = True
            elif outcome is ClaimOutcome.QUEUE_LOCKED:
                self.closed[i] = True
            else:
                lost_any = True
        return lost_any

    def _lease(self, expire_time: int) -> Lease:
        timeout = self.request.process_timeout
        until = expire_time if timeout is None else min(self.now + timeout * 1000, expire_time)
        return Lease(new_lease_id(), until, timeout, self.request.process_max_retries)

    def _lock_for(self, queue_index: int) -> QueueLevel | None:
        return self.queues[queue_index] if self.strategy is Strategy.SEQUENTIAL else None
