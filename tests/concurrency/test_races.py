"""Real concurrency: 8 workers against DynamoDB server processes, some of them crashing.

dynalite (npm) serves the fifo path, which uses single-item conditional writes only. The
sequential path claims with TransactWriteItems, which dynalite lacks, so it runs against moto's
server answering one request at a time (see tests/serial_moto_server.py).
"""

from __future__ import annotations

import pytest

from taskq.requests import TakeRequest
from tests.concurrency.harness import ADMIN, Grant, Record, put_tasks, run_workers, service_on
from tests.servers import tables_on

pytestmark = pytest.mark.slow


def assert_every_task_succeeded_once(record: Record, endpoint: str, tables, task_ids: list[str]) -> None:
    # Every task was completed exactly once, under the lease it held last. A run the deadline
    # cut short (a loaded machine) says so: slow is not lost.
    assert not record.timed_out, f"the deadline passed with {len(record.completions)} of {len(task_ids)} completed"
    assert sorted(record.completions) == sorted(task_ids), "a task was lost or an unknown task completed"
    for task_id, leases in record.completions.items():
        assert len(leases) == 1, f"{task_id} completed {len(leases)} times"
        assert leases[0] == record.grants_by_task()[task_id][-1].lease_id
    reader = service_on(endpoint, tables)
    for task_id in task_ids:
        assert reader.get(ADMIN, task_id)["status"] == "succeeded"


def overlapping_holds(grants: list[Grant]) -> list[tuple[Grant, Grant]]:
    """Pairs of grants whose holds overlap in time. A hold runs from the moment the take returned
    to `held_until`; a grant whose lease had already ended when its take returned (possible on
    a loaded machine) held nothing."""
    holds = sorted((g for g in grants if g.lease_expire_time > g.granted_at), key=lambda g: g.granted_at)
    overlaps, latest = [], None
    for grant in holds:
        if latest is not None and grant.granted_at < latest.held_until:
            overlaps.append((latest, grant))
        if latest is None or grant.held_until > latest.held_until:
            latest = grant
    return overlaps


def assert_leases_never_overlap(record: Record) -> None:
    # One task's claims are numbered 1, 2, ... (attempts), none lost or repeated, and no two of
    # its leases were held at once.
    for task_id, grants in record.grants_by_task().items():
        assert [g.attempt for g in grants] == list(range(1, len(grants) + 1)), f"{task_id}: claims not 1..n"
        assert overlapping_holds(grants) == [], f"{task_id}: leases overlap"


def assert_abandoned_tasks_redelivered(record: Record) -> None:
    abandoned = [g for g in record.grants if g.abandoned]
    assert abandoned, "the run abandoned no task, so it shows nothing about redelivery"
    by_task = record.grants_by_task()
    for grant in abandoned:
        assert by_task[grant.task_id][-1] is not grant, f"{grant.task_id} was abandoned and never redelivered"


def test_fifo_workers_on_dynalite_deliver_every_task_exactly_once(dynalite_endpoint: str) -> None:
    # Given 600 tasks on dynalite
    tables = tables_on(dynalite_endpoint)
    task_ids = put_tasks(dynalite_endpoint, tables, ["race"], 600)

    # When 8 workers take and complete them, abandoning about one grant in ten
    take = TakeRequest(queues=["race:1"], size=3, process_timeout=1, process_max_retries=-1)
    record = run_workers(dynalite_endpoint, tables, take, expected=len(task_ids))

    # Then every task succeeded exactly once, leases never overlapped and abandoned tasks came back
    assert_every_task_succeeded_once(record, dynalite_endpoint, tables, task_ids)
    assert_leases_never_overlap(record)
    assert_abandoned_tasks_redelivered(record)


def test_fifo_workers_on_dynalite_deliver_every_task_exactly_once_from_4_shards(dynalite_endpoint: str) -> None:
    # Given 300 tasks on dynalite, spread over 4 ready shards (issue 14)
    tables = tables_on(dynalite_endpoint)
    task_ids = put_tasks(dynalite_endpoint, tables, ["sharded"], 300, shards=4)

    # When 8 workers take and complete them, merging the shards' heads, abandoning some grants
    take = TakeRequest(queues=["sharded:1"], size=3, process_timeout=1, process_max_retries=-1)
    record = run_workers(dynalite_endpoint, tables, take, expected=len(task_ids))

    # Then every task succeeded exactly once, leases never overlapped and abandoned tasks came back
    assert_every_task_succeeded_once(record, dynalite_endpoint, tables, task_ids)
    assert_leases_never_overlap(record)
    assert_abandoned_tasks_redelivered(record)


def test_sequential_workers_never_run_two_tasks_of_one_queue_at_once(moto_server_endpoint: str) -> None:
    # Given 4 queues with 25 tasks each, on a DynamoDB that has transactions (moto's server copies
    # the tables on every transaction: each claim is slow there, hence the longer deadline)
    queues = ["seq-a", "seq-b", "seq-c", "seq-d"]
    tables = tables_on(moto_server_endpoint)
    task_ids = put_tasks(moto_server_endpoint, tables, queues, 100)

    # When 8 sequential workers take from all four, abandoning some grants
    take = TakeRequest(
        queues=[f"{q}:1" for q in queues], strategy="sequential", size=4, process_timeout=1, process_max_retries=-1
    )
    record = run_workers(moto_server_endpoint, tables, take, expected=len(task_ids), deadline_s=300)

    # Then every task succeeded once, and per queue a task was granted only once the previous
    # holder let go: it called complete, or its lease ended (which frees the queue, spec §3.3)
    assert_every_task_succeeded_once(record, moto_server_endpoint, tables, task_ids)
    assert_abandoned_tasks_redelivered(record)
    for queue in queues:
        assert overlapping_holds([g for g in record.grants if g.queue == queue]) == [], f"{queue}: two at once"
