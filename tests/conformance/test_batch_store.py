"""The batch store (store/batches.py) on every backend: the batch item and its listing and run
items, the run lease, the fan-out cursor, the settled cursor, status moves, the lines'
conditional puts and their consistent reads. These conditions are what keep a resumed fan-out
from writing a line twice (docs/design.md "Batches"), so they must hold on dynalite too."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from taskq.batches import Batch, BatchStatus, line_task_id, new_batch_id
from taskq.clock import ManualClock
from taskq.models import ResponseMode, Status, Task
from taskq.store import ClaimOutcome, DynamoStore
from tests.conformance.factory import CHAT, Q, lease

AK = "ak-producer-0001"


def new_batch(clock: ManualClock, **changes: Any) -> Batch:
    batch = Batch(
        batch_id=new_batch_id(clock.now_ms()),
        ak=AK,
        key_queues=("conformance*",),
        status=BatchStatus.VALIDATING,
        endpoint=CHAT,
        input_file_id="file-00000000000000000000000000000",
        completion_window="24h",
        metadata={"run": "1"},
        queue=Q.name,
        level=Q.level,
        created_at=clock.now_ms() // 1000,
    )
    return replace(batch, **changes)


def put_batch(store: DynamoStore, backend: str, batch: Batch) -> None:
    """The store's create. dynalite has no TransactWriteItems: there the same writes (each with
    its condition) go one by one — setup only, the behaviour under test comes after."""
    if backend == "dynalite":
        client = store._db

        class OneByOne:
            def __getattr__(self, name: str) -> Any:
                return getattr(client, name)

            @staticmethod
            def transact_write_items(TransactItems: list[dict[str, Any]]) -> None:
                for entry in TransactItems:
                    client.put_item(**entry["Put"])

        store._db = OneByOne()
        try:
            store.put_batch(batch)
        finally:
            store._db = client
        return
    store.put_batch(batch)


def in_progress(store: DynamoStore, backend: str, clock: ManualClock, total: int = 50) -> Batch:
    batch = new_batch(clock)
    put_batch(store, backend, batch)
    started = replace(batch.reached(BatchStatus.IN_PROGRESS, clock.now_ms() // 1000), total=total)
    assert store.move_batch(batch, started)
    return started


def line_task(batch: Batch, line: int, clock: ManualClock) -> Task:
    return Task(
        task_id=line_task_id(batch.batch_id, line),
        ak=batch.ak,
        queue=batch.queue,
        level=batch.level,
        endpoint=batch.endpoint,
        data={"line": line},
        status=Status.WAITING,
        start_time=clock.now_ms(),
        expire_time=batch.deadline_ms,
        response_mode=ResponseMode.BATCH,
        batch_id=batch.batch_id,
        trace_id=batch.batch_id,
        custom_id=f"r-{line}",
    )


def test_a_batch_is_stored_listed_newest_first_and_on_the_worklist(store, backend, clock) -> None:
    batches = []
    for _ in range(5):
        batches.append(new_batch(clock))
        put_batch(store, backend, batches[-1])
        clock.advance(ms=1)

    assert store.get_batch(batches[0].batch_id) == batches[0]
    newest_first = [b.batch_id for b in reversed(batches)]
    page, more = store.list_batches(AK, None, 2)
    assert ([b.batch_id for b in page], more) == (newest_first[:2], True)
    page, more = store.list_batches(AK, page[-1].batch_id, 10)
    assert ([b.batch_id for b in page], more) == (newest_first[2:], False)
    assert store.list_batches("ak-someone-else", None, 10) == ([], False)
    assert store.batch_runs() == [b.batch_id for b in batches]

    store.end_batch_run(batches[1].batch_id)
    assert store.batch_runs() == [b.batch_id for i, b in enumerate(batches) if i != 1]


def test_a_batch_id_is_created_once(store, backend, clock) -> None:
    batch = new_batch(clock)
    put_batch(store, backend, batch)
    with pytest.raises(ClientError):  # a cancelled transaction, or (one by one) a failed condition
        put_batch(store, backend, replace(batch, metadata={"run": "2"}))
    assert store.get_batch(batch.batch_id) == batch


def test_one_runner_holds_the_run_lease_until_it_ends_or_is_released(store, backend, clock) -> None:
    batch = in_progress(store, backend, clock)
    now = clock.now_ms()

    assert store.take_run_lease(batch.batch_id, "run-a", now, now + 5_000)
    assert not store.take_run_lease(batch.batch_id, "run-b", now + 4_000, now + 9_000)
    assert store.take_run_lease(batch.batch_id, "run-a", now + 4_000, now + 9_000)  # its own, extended
    assert not store.take_run_lease(batch.batch_id, "run-b", now + 9_000, now + 14_000)  # until = now: lasts
    assert store.take_run_lease(batch.batch_id, "run-b", now + 9_001, now + 14_000)  # ended

    store.release_run_lease(batch.batch_id, "run-a")  # not the holder: changes nothing
    assert not store.take_run_lease(batch.batch_id, "run-a", now + 10_000, now + 15_000)
    store.release_run_lease(batch.batch_id, "run-b")
    assert store.take_run_lease(batch.batch_id, "run-a", now + 10_000, now + 15_000)


def test_the_cursor_moves_only_from_where_it_stands_under_the_lease_while_in_progress(store, backend, clock) -> None:
    batch = in_progress(store, backend, clock)
    now = clock.now_ms()
    assert store.take_run_lease(batch.batch_id, "run-a", now, now + 5_000)

    assert store.advance_cursor(batch.batch_id, "run-a", 0, 25)
    assert not store.advance_cursor(batch.batch_id, "run-a", 0, 25)  # a stale run's move
    assert not store.advance_cursor(batch.batch_id, "run-b", 25, 50)  # not the lease holder
    assert store.get_batch(batch.batch_id).cursor == 25

    cancelling = batch.reached(BatchStatus.CANCELLING, now // 1000)
    assert store.move_batch(batch, cancelling)
    assert not store.advance_cursor(batch.batch_id, "run-a", 25, 50)  # cancelled: the fan-out stops
    assert store.get_batch(batch.batch_id).cursor == 25


def test_the_settled_cursor_moves_with_its_counts_from_where_it_stands(store, backend, clock) -> None:
    batch = in_progress(store, backend, clock)

    assert store.settle_batch(batch.batch_id, 0, 10, 9, 1)
    assert not store.settle_batch(batch.batch_id, 0, 12, 11, 1)  # counted twice: refused
    assert store.settle_batch(batch.batch_id, 10, 30, 27, 3)
    stored = store.get_batch(batch.batch_id)
    assert (stored.settled, stored.completed, stored.failed, stored.cursor) == (30, 27, 3, 0)


def test_a_status_moves_only_from_the_status_it_leaves(store, backend, clock) -> None:
    batch = in_progress(store, backend, clock)
    finalizing = batch.reached(BatchStatus.FINALIZING, clock.now_ms() // 1000)

    assert store.move_batch(batch, finalizing)
    assert not store.move_batch(batch, batch.reached(BatchStatus.CANCELLING, clock.now_ms() // 1000))
    stored = store.get_batch(batch.batch_id)
    assert (stored.status, stored.times) == (BatchStatus.FINALIZING, finalizing.times)


@pytest.mark.needs_transactions
def test_the_final_move_ends_the_run_and_a_cancel_puts_it_back(store, backend, clock) -> None:
    batch = in_progress(store, backend, clock)
    now_s = clock.now_ms() // 1000
    cancelling = batch.reached(BatchStatus.CANCELLING, now_s)
    store.end_batch_run(batch.batch_id)

    assert store.move_batch(batch, cancelling, start_run=True)
    assert store.batch_runs() == [batch.batch_id]
    ended = replace(cancelling.reached(BatchStatus.CANCELLED, now_s), completed=3, failed=47, settled=50)
    assert store.move_batch(cancelling, ended, end_run=True, counts=True)
    assert store.batch_runs() == []
    assert not store.move_batch(cancelling, ended, end_run=True, counts=True)  # once
    stored = store.get_batch(batch.batch_id)
    assert (stored.status, stored.completed, stored.failed, stored.settled) == (BatchStatus.CANCELLED, 3, 47, 50)


def test_a_line_is_written_once_and_a_taken_line_is_left_as_it_is(store, backend, clock) -> None:
    batch = in_progress(store, backend, clock)
    tasks = [line_task(batch, line, clock) for line in range(3)]
    assert [store.put_new_task(t) for t in tasks] == [True, True, True]
    outcome, taken = store.claim(tasks[0].task_id, clock.now_ms(), lease(clock))
    assert outcome is ClaimOutcome.CLAIMED

    assert [store.put_new_task(replace(t, data={"again": True})) for t in tasks] == [False, False, False]
    found = store.get_tasks([t.task_id for t in tasks] + [line_task_id(batch.batch_id, 3)])
    assert set(found) == {t.task_id for t in tasks}  # the line never written is absent
    assert found[tasks[0].task_id] == taken  # running, as the claim left it
    assert [found[t.task_id].data for t in tasks[1:]] == [{"line": 1}, {"line": 2}]
    assert found[tasks[1].task_id].custom_id == "r-1"
