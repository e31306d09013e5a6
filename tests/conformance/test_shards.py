"""Sharded ready keys (docs/design.md "Sharded queue heads") on every backend, at K = 1 and at
K = 4: where tasks wait, what claims, requeues and clears do to each shard, and the shard count
on the registration (only ever raised)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from taskq.clearing import QueueClearer
from taskq.clock import ManualClock
from taskq.errors import Conflict, QueueNotFound
from taskq.models import Candidate, Status, Task
from taskq.store import ClaimOutcome, DynamoStore
from taskq.store.keys import SWEEP_SHARDS, SWEEP_SHARDS_WRITTEN_BEFORE, ready_shard, sweep_shard
from taskq.strategies import merge_shards
from tests.conformance.factory import CHAT, Q, lease, waiting_task


@pytest.fixture(params=[1, 4], ids=lambda k: f"K={k}")
def shards(request: pytest.FixtureRequest, store: DynamoStore, clock: ManualClock) -> int:
    store.register_queue(Q.name, CHAT, clock.now_ms())
    if request.param > 1:
        store.raise_shards(Q, request.param)
    return request.param


def put_sharded(store: DynamoStore, clock: ManualClock, shards: int, count: int) -> list[Task]:
    """`count` tasks, two per millisecond, each in the shard its id gives: fifo order returned."""
    tasks = []
    for i in range(count):
        task = waiting_task(clock)
        task = replace(task, shard=ready_shard(task.task_id, shards))
        store.put_task(task, None, clock.now_ms())
        tasks.append(task)
        if i % 2:
            clock.advance(ms=1)
    if shards > 1:
        assert len({t.shard for t in tasks}) > 1, "all in one shard: the test would prove nothing"
    return sorted(tasks, key=lambda t: (t.start_time, t.task_id))


def heads(store: DynamoStore, clock: ManualClock, shards: int, limit: int = 50) -> list[list[Candidate]]:
    return [store.find_ready(Q, clock.now_ms(), limit, shard=k) for k in range(shards)]


def test_each_shard_holds_its_tasks_and_the_merged_heads_are_fifo(
    store: DynamoStore, clock: ManualClock, shards: int
) -> None:
    tasks = put_sharded(store, clock, shards, 12)

    for k, head in enumerate(heads(store, clock, shards)):
        assert [c.task_id for c in sorted(head, key=lambda c: c.order_key)] == [
            t.task_id for t in tasks if t.shard == k
        ]
    # 6: a whole millisecond (the index orders ties on start_time in no particular way)
    assert [c.task_id for c in merge_shards(heads(store, clock, shards, limit=6), 6)] == [t.task_id for t in tasks[:6]]
    assert store.get_task(tasks[0].task_id) == tasks[0]  # the shard reads back as written


def test_a_claim_takes_the_task_out_of_its_shard_and_a_requeue_puts_it_back_there(
    store: DynamoStore, clock: ManualClock, shards: int
) -> None:
    tasks = put_sharded(store, clock, shards, 8)
    first = tasks[0]

    outcome, running = store.claim(first.task_id, clock.now_ms(), lease(clock))
    assert outcome is ClaimOutcome.CLAIMED
    assert first.task_id not in [c.task_id for c in merge_shards(heads(store, clock, shards), 50)]

    assert store.requeue(running, visible_time=0)
    assert store.get_task(first.task_id).shard == first.shard
    in_its_shard = heads(store, clock, shards)[first.shard]
    assert first.task_id in [c.task_id for c in in_its_shard]
    assert [c.task_id for c in merge_shards(heads(store, clock, shards), 50)] == [t.task_id for t in tasks]


def test_a_clear_cancels_the_covered_tasks_of_every_shard(store: DynamoStore, clock: ManualClock, shards: int) -> None:
    covered = put_sharded(store, clock, shards, 10)
    clock.advance(ms=1)

    assert QueueClearer(store, clock).clear(Q) is True
    clock.advance(ms=1)
    young = put_sharded(store, clock, shards, 6)  # put after the clear: spared

    assert {store.get_task(t.task_id).status for t in covered} == {Status.CANCELLED}
    assert {store.get_task(t.task_id).status for t in young} == {Status.WAITING}
    assert [c.task_id for c in merge_shards(heads(store, clock, shards), 50)] == [t.task_id for t in young]


def test_a_clear_cancels_a_task_only_through_its_own_shard(store: DynamoStore, clock: ManualClock) -> None:
    task = replace(waiting_task(clock), shard=3)
    store.put_task(task, None, clock.now_ms())
    clock.advance(ms=1)

    assert store.cancel_cleared(task.task_id, Q, clock.now_ms(), clock.now_ms(), shard=0) is False
    assert store.cancel_cleared(task.task_id, Q, clock.now_ms(), clock.now_ms(), shard=3) is True


def test_shards_are_only_ever_raised_and_a_repeated_registration_keeps_them(
    store: DynamoStore, clock: ManualClock
) -> None:
    store.register_queue(Q.name, CHAT, clock.now_ms())
    assert store.queue_shards(Q) == 1

    assert store.raise_shards(Q, 4).shards_of(Q.level) == 4
    assert store.raise_shards(Q, 4).shards_of(Q.level) == 4  # a repeat
    with pytest.raises(Conflict, match=r"^shards: "):
        store.raise_shards(Q, 2)
    with pytest.raises(QueueNotFound):
        store.raise_shards(replace(Q, name="never"), 2)
    store.register_queue(Q.name, CHAT, clock.now_ms())

    assert store.queue_shards(Q) == 4
    assert store.queue_shards(replace(Q, level=1)) == 1  # per level
    assert store.queue_registrations([Q.name])[Q.name].shards == {Q.level: 4}


def test_the_sweeper_finds_tasks_of_every_sweep_shard_count_written_new_and_old(
    store: DynamoStore, clock: ManualClock
) -> None:
    """The SweepDue migration (docs/design.md): tasks put by this release spread over
    SWEEP_SHARDS, tasks put by an earlier release keep the shard of its count; both are due."""
    old_counts = [count for count in SWEEP_SHARDS_WRITTEN_BEFORE if count != SWEEP_SHARDS]
    expiring = [waiting_task(clock, expire_time=clock.now_ms() + 1_000) for _ in range(24)]
    for task in expiring:
        store.put_task(task, None, clock.now_ms())
    assert max(int(sweep_shard(t.task_id)) for t in expiring) >= min(old_counts, default=SWEEP_SHARDS)
    from_before = waiting_task(clock, expire_time=clock.now_ms() + 1_000)
    store.put_task(from_before, None, clock.now_ms())
    for count in old_counts:  # as the earlier release wrote it
        store._db.update_item(
            TableName=store._tables.tasks,
            Key={"task_id": {"S": from_before.task_id}},
            UpdateExpression="SET sweep_shard = :s",
            ExpressionAttributeValues={":s": {"S": sweep_shard(from_before.task_id, count)}},
        )
    clock.advance(ms=1_000)

    assert sorted(store.due_task_ids(clock.now_ms())) == sorted(t.task_id for t in [*expiring, from_before])
