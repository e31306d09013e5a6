"""The batched routes (spec §3.13): put-batch and complete-batch. Each item gets exactly the
single route's checks and answer, as an entry of the batch's answer: one bad item never fails the
others. Only a caller whose key may not use the route at all is refused as a whole (403).

Not to be confused with the OpenAI Batch API (batches.py, spec §6).
"""

from __future__ import annotations

from typing import Any

from . import permissions
from .errors import BadRequest, TaskqError
from .ids import new_task_ids
from .models import Principal
from .permissions import PRODUCERS, WORKERS
from .requests import CompleteBatchItem, PutBatchItem, validate_body
from .service import QueueService
from .store import NewTask

# Completes of one batch in flight at once: each is one conditional write (a few ms), so ten run
# in about the time of three; more threads would only queue on a small function's CPU.
COMPLETE_THREADS = 4


def error_entry(error: TaskqError) -> dict[str, Any]:
    return {"error": {"code": error.status, "message": error.message}}


def _put_item(raw: Any) -> PutBatchItem:
    if not isinstance(raw, dict):
        raise BadRequest("task: must be a JSON object (a put body)")
    item = validate_body(PutBatchItem, raw)
    if item.response_mode != "callback":
        raise BadRequest(f"response_mode: put-batch puts callback tasks only, not {item.response_mode!r}")
    return item


def put_batch(service: QueueService, principal: Principal, items: list[Any]) -> list[dict[str, Any]]:
    """Per item, in order: `{"task_id"}` or `{"error": {"code", "message"}}`. The tasks that pass
    their checks are written together (store/put_batch.py); ids sort in the batch's order."""
    permissions.require_role(principal, PRODUCERS, "put-batch")
    entries: list[dict[str, Any] | None] = [None] * len(items)
    parsed: dict[int, PutBatchItem] = {}
    for i, raw in enumerate(items):
        try:
            parsed[i] = _put_item(raw)
        except TaskqError as e:
            entries[i] = error_entry(e)
    # Registrations of every queue named, in one read, rather than one read per queue.
    service.learn_registrations([p.queue for p in parsed.values() if principal.covers(p.queue)])
    ids = iter(new_task_ids(service.now_ms(), len(parsed)))
    new: dict[int, NewTask] = {}
    for i, item in parsed.items():
        try:
            new[i] = service.new_task(principal, item.put_request(), item.idempotency_key, next(ids))
        except TaskqError as e:
            entries[i] = error_entry(e)
    if new:
        for i, outcome in zip(new, service.put_new(list(new.values())), strict=True):
            entries[i] = {"task_id": outcome} if isinstance(outcome, str) else error_entry(outcome)
    return [entry for entry in entries if entry is not None]


def _complete_one(service: QueueService, principal: Principal, raw: Any) -> dict[str, Any]:
    task_id = raw.get("task_id") if isinstance(raw, dict) else None
    try:
        if not isinstance(raw, dict):
            raise BadRequest("result: must be a JSON object {task_id, lease_id, result}")
        item = validate_body(CompleteBatchItem, raw)
        service.complete(principal, item.task_id, item.result, item.lease_id)
    except TaskqError as e:
        return {"task_id": task_id, "code": e.status, "message": e.message}
    return {"task_id": task_id, "code": 200}


def complete_batch(service: QueueService, principal: Principal, items: list[Any]) -> list[dict[str, Any]]:
    """Per item, in order: `{"task_id", "code": 200}` or `{"task_id", "code", "message"}`. Each is
    the single complete (its own conditional write, fenced by its lease): a transaction would fail
    every item for one stale lease, and DynamoDB has no batched conditional update otherwise."""
    permissions.require_role(principal, WORKERS, "complete-batch")
    if len(items) == 1:
        return [_complete_one(service, principal, items[0])]
    from concurrent.futures import ThreadPoolExecutor  # only complete-batch (cold start)

    with ThreadPoolExecutor(max_workers=min(COMPLETE_THREADS, len(items))) as pool:
        return list(pool.map(lambda raw: _complete_one(service, principal, raw), items))
