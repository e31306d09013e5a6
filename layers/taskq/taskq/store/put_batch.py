"""Putting many tasks at once (`POST /v1/queue/put-batch`): transactions of up to 100 writes.

Why transactions and not BatchWriteItem: a BatchWriteItem put has no condition. When its answer
is lost (a time-out, a 500 after the write took effect), botocore sends it again, and that second
put would overwrite a task a worker claimed (or even completed) in between, back to `waiting` —
a task run twice, a final status undone. `TransactWriteItems` keeps every put's guard
(`attribute_not_exists(task_id)`, and the idempotency record's), writes a task and its record
together, and botocore's `ClientRequestToken` makes a re-sent transaction that already committed
answer success. The price is 2 write units a task instead of 1 (docs/performance.md "Batched
routes"); the request count is the same order: one request per 100 writes (4 MB at most).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from botocore.exceptions import ClientError

from ..errors import Conflict
from ..models import Task
from .codec import TRANSIENT_CANCELLATIONS, cancellation_codes, from_item, is_transaction_cancelled
from .keys import idempotency_key
from .tasks import IdempotencyConflict, IdempotencyRecord, TaskRecords, first_task_of

MAX_TRANSACTION_ITEMS = 100
# DynamoDB caps a transaction at 4 MB of items; the JSON of the request overstates an item's
# size a little, so a budget under the cap keeps every chunk valid.
MAX_TRANSACTION_BYTES = 3_500_000
# Rounds per chunk: each settles at least the items whose keys were used before (repeats), so
# more rounds are needed only while concurrent puts with the same keys keep conflicting.
PUT_ROUNDS = 6
CONDITION_FAILED = "ConditionalCheckFailed"


@dataclass(frozen=True)
class NewTask:
    task: Task
    idempotency: IdempotencyRecord | None = None


# Per item: the task id (the new task's, or the first task's for a repeated key), or why not.
PutOutcome = str | Conflict


class TaskBatchPuts(TaskRecords):
    def put_tasks(self, tasks: Sequence[NewTask], now: int) -> list[PutOutcome]:
        """Stores new waiting tasks, each exactly as `put_task` would, in as few transactions as
        the limits allow. A repeated idempotency key answers the first task's id (or an
        `IdempotencyConflict` for another body), also when the first use is earlier in `tasks`.
        A failure raises: the transactions before it committed whole, the rest wrote nothing."""
        outcomes: list[PutOutcome | None] = [None] * len(tasks)
        first_of_key: dict[tuple[str, str], int] = {}
        writes: list[int] = []
        for i, new in enumerate(tasks):
            if new.idempotency is None:
                writes.append(i)
                continue
            scope = (new.idempotency.scope, new.idempotency.key)
            if scope in first_of_key:  # one transaction may not write one item twice: settled below
                continue
            first_of_key[scope] = i
            writes.append(i)
        for chunk in self._chunks(tasks, writes, now):
            self._put_chunk(tasks, chunk, now, outcomes)
        for i, new in enumerate(tasks):
            if outcomes[i] is None and new.idempotency is not None:  # a key used earlier in the batch
                first = first_of_key[(new.idempotency.scope, new.idempotency.key)]
                outcomes[i] = _repeat_of(tasks[first], outcomes[first], new.idempotency)
        assert all(outcome is not None for outcome in outcomes), "every item is settled above"
        return outcomes  # type: ignore[return-value]

    def _writes_of(self, new: NewTask, now: int) -> list[dict]:
        writes = [{"Put": self._new_task_put(new.task)}]
        if new.idempotency is not None:
            writes.append({"Put": self._idempotency_put(new.idempotency, new.task.task_id, now)})
        return writes

    def _chunks(self, tasks: Sequence[NewTask], writes: list[int], now: int) -> list[list[int]]:
        """`writes` in order, cut where a transaction would pass its item count or size."""
        chunks: list[list[int]] = [[]]
        items = size = 0
        for i in writes:
            actions = self._writes_of(tasks[i], now)
            weight = len(json.dumps(actions, separators=(",", ":")))
            if chunks[-1] and (items + len(actions) > MAX_TRANSACTION_ITEMS or size + weight > MAX_TRANSACTION_BYTES):
                chunks.append([])
                items = size = 0
            chunks[-1].append(i)
            items, size = items + len(actions), size + weight
        return [chunk for chunk in chunks if chunk]

    def _put_chunk(self, tasks: Sequence[NewTask], chunk: list[int], now: int, outcomes: list) -> None:
        pending = list(chunk)
        for attempt in range(PUT_ROUNDS):
            writes = [self._writes_of(tasks[i], now) for i in pending]
            try:
                self._db.transact_write_items(TransactItems=[w for item in writes for w in item])
            except ClientError as e:
                if not is_transaction_cancelled(e):
                    raise
                cancelled, codes = e, iter(cancellation_codes(e))
                reasons = [[next(codes, "") for _ in item] for item in writes]
            else:
                for i in pending:
                    outcomes[i] = tasks[i].task.task_id
                return
            if any(task_code == CONDITION_FAILED for task_code, *_ in reasons):
                # Task ids are new: a task that exists already was written by an earlier send of
                # this very transaction (its answer lost, and a server that ignores the request
                # token), which then committed whole.
                for i in pending:
                    outcomes[i] = tasks[i].task.task_id
                return
            unexpected = {code for item in reasons for code in item} - {"None", "", CONDITION_FAILED}
            if unexpected - TRANSIENT_CANCELLATIONS:
                raise cancelled
            repeats = [i for i, item in zip(pending, reasons, strict=True) if CONDITION_FAILED in item[1:]]
            self._settle_repeats(tasks, repeats, outcomes)
            pending = [i for i in pending if outcomes[i] is None]
            if not pending:
                return
            time.sleep(0.01 * 2**attempt)  # contention or a key being written concurrently
        for i in pending:
            outcomes[i] = Conflict("idempotency_key: a concurrent request with this key is in progress; retry")

    def _settle_repeats(self, tasks: Sequence[NewTask], repeats: list[int], outcomes: list) -> None:
        """Items whose key is in use: the first task's id, or a conflict for another body. A
        record gone meanwhile (expired) leaves the item pending, to be written again."""
        records = {i: r for i in repeats if (r := tasks[i].idempotency) is not None}
        if not records:
            return
        keys = [idempotency_key(r.scope, r.key) for r in records.values()]
        found = self._batch_get(self._tables.control, keys, projection="pk, sk, task_id, body_hash", consistent=True)
        by_key = {(v["pk"], v["sk"]): item for item in found for v in [from_item(item)]}
        for i, record in records.items():
            key = from_item(idempotency_key(record.scope, record.key))
            existing = by_key.get((key["pk"], key["sk"]))
            if existing is None:
                continue
            try:
                outcomes[i] = first_task_of(existing, record)
            except IdempotencyConflict as e:
                outcomes[i] = e


def _repeat_of(first: NewTask, outcome: PutOutcome | None, idempotency: IdempotencyRecord) -> PutOutcome:
    """A key's second use within one batch: as a repeat after the first one (spec §3.2)."""
    if first.idempotency is not None and first.idempotency.body_hash != idempotency.body_hash:
        return IdempotencyConflict()
    assert outcome is not None
    return outcome
