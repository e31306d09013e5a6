"""Which tasks a take may hand out (spec §3.3 "Eligible task", §2 final statuses): the `endpoint`
filter, `min_age_seconds`, expiry, and tasks already running, cancelled or finished."""

from __future__ import annotations

import pytest
from apigw import Caller
from steps import CHAT, cancel, complete, put, register, take, taken_ids

from taskq.clock import ManualClock

Q = "test-queue:0"
EMBED = "/v1/embeddings"
STRATEGIES = ["fifo", "round_robin", "active_passive", "sequential"]


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, "test-queue")


def take_done(worker: Caller, strategy: str, **fields) -> dict[str, list[str]]:
    """Takes up to 10 and completes what it got, so a sequential lock never blocks the next take."""
    answer = taken_ids(take(worker, [Q], 10, strategy=strategy, **fields))
    for task_id in answer.get(Q, []):
        assert complete(worker, task_id).status == 200
    return answer


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_endpoint_filter_takes_only_matching_tasks(producer: Caller, worker: Caller, strategy: str) -> None:
    chat = put(producer, "test-queue", endpoint=CHAT)
    embed = put(producer, "test-queue", endpoint=EMBED)

    assert take_done(worker, strategy, endpoint=EMBED) == {Q: [embed]}
    assert take_done(worker, strategy, endpoint=EMBED) == {}
    assert take_done(worker, strategy, endpoint=CHAT) == {Q: [chat]}


def test_endpoint_filter_reaches_past_many_other_endpoint_tasks(
    producer: Caller, worker: Caller, clock: ManualClock
) -> None:
    for _ in range(30):
        put(producer, "test-queue", endpoint=CHAT)
        clock.advance(ms=1)
    embed = put(producer, "test-queue", endpoint=EMBED)

    assert taken_ids(take(worker, [Q], 1, endpoint=EMBED)) == {Q: [embed]}


def test_without_endpoint_every_endpoint_is_taken(producer: Caller, worker: Caller) -> None:
    ids = {put(producer, "test-queue", endpoint=e) for e in (CHAT, EMBED, "/v1/rerank")}

    assert set(taken_ids(take(worker, [Q], 10))[Q]) == ids


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_min_age_takes_only_tasks_put_long_enough_ago(
    producer: Caller, worker: Caller, clock: ManualClock, strategy: str
) -> None:
    old = put(producer, "test-queue")
    clock.advance(seconds=30)
    young = put(producer, "test-queue")
    clock.advance(seconds=10)

    assert take_done(worker, strategy, min_age_seconds=20) == {Q: [old]}
    assert take_done(worker, strategy, min_age_seconds=20) == {}
    clock.advance(seconds=10)  # young is now exactly 20 s old: "at least" includes it
    assert take_done(worker, strategy, min_age_seconds=20) == {Q: [young]}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_expired_tasks_are_never_handed_out(
    producer: Caller, worker: Caller, clock: ManualClock, strategy: str
) -> None:
    put(producer, "test-queue", timeout=60)
    clock.advance(seconds=1)
    lasting = put(producer, "test-queue", timeout=3600)
    clock.advance(seconds=60)

    assert take_done(worker, strategy) == {Q: [lasting]}
    assert take_done(worker, strategy) == {}


def test_an_expired_task_stays_out_even_with_min_age(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    put(producer, "test-queue", timeout=5)
    clock.advance(seconds=3600)

    assert take(worker, [Q], 10, min_age_seconds=60) == {}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_cancelled_tasks_are_never_handed_out(producer: Caller, worker: Caller, strategy: str) -> None:
    gone = put(producer, "test-queue")
    kept = put(producer, "test-queue")
    assert cancel(producer, gone).status == 202

    assert taken_ids(take(worker, [Q], 10, strategy=strategy)) == {Q: [kept]}


@pytest.mark.parametrize("status_code", [200, 500])
def test_finished_tasks_are_never_handed_out_again(producer: Caller, worker: Caller, status_code: int) -> None:
    task_id = put(producer, "test-queue")
    assert taken_ids(take(worker, [Q], 1)) == {Q: [task_id]}
    assert complete(worker, task_id, {"status_code": status_code}).status == 200

    for strategy in STRATEGIES:
        assert take(worker, [Q], 10, strategy=strategy) == {}


def test_a_running_task_is_not_handed_out_again(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    task_id = put(producer, "test-queue")
    assert taken_ids(take(worker, [Q], 1, process_timeout=3600)) == {Q: [task_id]}
    clock.advance(seconds=60)

    for strategy in STRATEGIES:
        assert take(worker, [Q], 10, strategy=strategy) == {}
