"""active_passive (spec §3.3): fill from the first queue in start_time order; only when it has no
more eligible tasks continue with the second, and so on."""

from __future__ import annotations

import pytest
from apigw import Caller
from steps import put, register, take, taken_ids

from taskq.clock import ManualClock

P, S1, S2 = "primary:0", "backup:0", "backup:1"


@pytest.fixture(autouse=True)
def queues(admin: Caller) -> None:
    register(admin, "primary")
    register(admin, "backup")


@pytest.fixture
def put_at(producer: Caller, clock: ManualClock):
    def put_one(full_name: str, **fields) -> str:
        name, level = full_name.split(":")
        task_id = put(producer, name, level=int(level), **fields)
        clock.advance(seconds=1)
        return task_id

    return put_one


def test_the_first_queue_fills_the_take_even_when_backups_hold_older_tasks(worker: Caller, put_at) -> None:
    backup_old = [put_at(S1) for _ in range(3)]
    primary = [put_at(P) for _ in range(4)]

    answer = taken_ids(take(worker, [P, S1], 3, strategy="active_passive"))

    assert answer == {P: primary[:3]}
    assert taken_ids(take(worker, [P, S1], 3, strategy="active_passive")) == {P: primary[3:], S1: backup_old[:2]}


def test_an_exhausted_primary_continues_in_listed_order(worker: Caller, put_at) -> None:
    second = [put_at(S2) for _ in range(2)]
    first_backup = [put_at(S1) for _ in range(2)]
    primary = [put_at(P)]

    answer = taken_ids(take(worker, [P, S1, S2], 4, strategy="active_passive"))

    assert answer == {P: primary, S1: first_backup, S2: second[:1]}


def test_an_empty_primary_is_skipped(worker: Caller, put_at) -> None:
    backup = [put_at(S1) for _ in range(2)]

    assert taken_ids(take(worker, [P, S1], 5, strategy="active_passive")) == {S1: backup}


def test_listed_order_decides_which_queue_is_primary(worker: Caller, put_at) -> None:
    p = put_at(P)
    s = put_at(S1)

    assert taken_ids(take(worker, [S1, P], 1, strategy="active_passive")) == {S1: [s]}
    assert taken_ids(take(worker, [S1, P], 1, strategy="active_passive")) == {P: [p]}


def test_within_a_queue_tasks_come_in_start_time_order(worker: Caller, put_at) -> None:
    ids = [put_at(P) for _ in range(5)]

    assert taken_ids(take(worker, [P], 5, strategy="active_passive")) == {P: ids}


def test_a_primary_with_only_ineligible_tasks_counts_as_empty(worker: Caller, put_at, clock: ManualClock) -> None:
    put_at(P, timeout=1)
    put_at(P, endpoint="/v1/embeddings")
    backup = put_at(S1)
    clock.advance(seconds=5)

    answer = taken_ids(take(worker, [P, S1], 2, strategy="active_passive", endpoint="/v1/chat/completions"))

    assert answer == {S1: [backup]}
