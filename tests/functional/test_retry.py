"""POST /v1/queue/{task_id}/retry (spec §3.8): a worker gives its task back — waiting again with its
original start_time, takeable after the delay — or, with the retry budget spent, ends it failed."""

from __future__ import annotations

from typing import Any

import pytest
import steps
from apigw import Answer, Caller
from steps import complete, get, lease_call, put, register, take, taken_ids

from taskq.clock import ManualClock

QUEUE = "rq"


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, QUEUE)


def take_one(worker: Caller, **fields: Any) -> dict[str, Any]:
    return steps.take_one(worker, QUEUE, **fields)


def retry(worker: Caller, task_id: str, lease_id: str | None, body: Any = None) -> Answer:
    return lease_call("retry", worker, task_id, lease_id, body)


def retried(worker: Caller, task_id: str, lease_id: str, body: Any = None) -> dict[str, Any]:
    """Retries and returns the task as GET shows it afterwards."""
    answer = retry(worker, task_id, lease_id, body)
    assert (answer.status, answer.body) == (200, task_id), answer
    return get(worker, task_id).body


def assert_error(answer: Answer, status: int, word: str = "") -> None:
    assert answer.status == status, answer
    assert answer.body["code"] == status and word in answer.body["message"], answer.body


def test_retry_gives_the_task_back_in_its_fifo_place(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    # Given A put before B, and A taken
    first = put(producer, QUEUE)
    clock.advance(1)
    second = put(producer, QUEUE)
    clock.advance(1)
    taken = take_one(worker, process_timeout=30, process_max_retries=3)
    assert taken["task_id"] == first

    # When its worker retries it
    task = retried(worker, first, taken["lease_id"], {"reason": "busy"})

    # Then it waits again with its original start_time, and the next fifo take returns it before B
    assert (task["status"], task["start_time"], task["attempts"]) == ("waiting", taken["start_time"], 1)
    assert "lease_id" not in task
    assert complete(worker, first, {"status_code": 200}, taken["lease_id"]).status == 409  # the lease ended
    again = take(worker, [f"{QUEUE}:0"], 2, process_timeout=30)
    assert taken_ids(again) == {f"{QUEUE}:0": [first, second]}
    assert again[f"{QUEUE}:0"][0]["attempts"] == 2


def test_a_delayed_retry_is_not_takeable_before_the_delay(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    task_id = put(producer, QUEUE)
    lease = take_one(worker, process_timeout=30, process_max_retries=1)["lease_id"]

    assert retried(worker, task_id, lease, {"delay_seconds": 10})["status"] == "waiting"

    clock.advance(9.999)
    assert take(worker, [f"{QUEUE}:0"], 1) == {}
    clock.advance(ms=1)
    assert taken_ids(take(worker, [f"{QUEUE}:0"], 1)) == {f"{QUEUE}:0": [task_id]}


def test_one_retry_allows_one_redelivery_then_the_task_fails(
    producer: Caller, worker: Caller, clock: ManualClock
) -> None:
    # Given process_max_retries 1: two attempts in all
    task_id = put(producer, QUEUE)
    first = take_one(worker, process_timeout=30, process_max_retries=1)
    assert retried(worker, task_id, first["lease_id"])["status"] == "waiting"
    second = take_one(worker, process_timeout=30, process_max_retries=1)
    assert second["attempts"] == 2

    # When the second attempt is retried too
    clock.advance(3)
    task = retried(worker, task_id, second["lease_id"], {"reason": "upstream 503"})

    # Then the budget is spent: failed, with the retries-exhausted result, never handed out again
    assert (task["status"], task["completed_time"], task["attempts"]) == ("failed", clock.now_ms(), 2)
    expected = {"status_code": 500, "request_id": task_id, "message": "retries exhausted", "reason": "upstream 503"}
    assert task["result"] == expected
    assert take(worker, [f"{QUEUE}:0"], 1) == {}


def test_without_process_max_retries_the_first_retry_fails_the_task(producer: Caller, worker: Caller) -> None:
    task_id = put(producer, QUEUE)
    lease = take_one(worker, process_timeout=30)["lease_id"]

    task = retried(worker, task_id, lease)

    assert task["status"] == "failed"
    assert task["result"] == {"status_code": 500, "request_id": task_id, "message": "retries exhausted", "reason": ""}


def test_minus_one_retries_without_limit(producer: Caller, worker: Caller) -> None:
    task_id = put(producer, QUEUE)
    for attempt in range(1, 6):
        taken = take_one(worker, process_timeout=30, process_max_retries=-1)
        assert (taken["task_id"], taken["attempts"]) == (task_id, attempt)
        assert retried(worker, task_id, taken["lease_id"])["status"] == "waiting"

    assert take_one(worker, process_max_retries=-1)["attempts"] == 6


def test_the_latest_takes_budget_applies(producer: Caller, worker: Caller) -> None:
    task_id = put(producer, QUEUE)
    # Attempt 1 under a budget of 1, attempt 2 under 3: the second retry is allowed by the latest take
    first = take_one(worker, process_max_retries=1)
    assert retried(worker, task_id, first["lease_id"])["status"] == "waiting"
    second = take_one(worker, process_max_retries=3)
    assert retried(worker, task_id, second["lease_id"])["status"] == "waiting"
    # Attempt 3 under a budget of 0: its retry fails the task
    third = take_one(worker, process_max_retries=0)
    assert retried(worker, task_id, third["lease_id"])["status"] == "failed"


@pytest.mark.parametrize("body", [None, {"delay_seconds": 5}])
def test_a_missing_lease_header_is_a_400(producer: Caller, worker: Caller, body: Any) -> None:
    task_id = put(producer, QUEUE)
    take_one(worker, process_timeout=30, process_max_retries=1)

    answer = retry(worker, task_id, None, body)

    assert_error(answer, 400)
    assert "x-lease-id" in answer.body["message"].lower()
    assert get(worker, task_id).body["status"] == "running"


def test_a_stale_lease_is_a_409_and_changes_nothing(producer: Caller, worker: Caller) -> None:
    task_id = put(producer, QUEUE)
    stale = take_one(worker, process_timeout=30, process_max_retries=5)["lease_id"]
    assert retried(worker, task_id, stale)["status"] == "waiting"
    current = take_one(worker, process_timeout=30, process_max_retries=5)

    assert_error(retry(worker, task_id, stale), 409)
    assert_error(retry(worker, task_id, "LEASE-made-up"), 409)
    task = get(worker, task_id).body
    assert (task["status"], task["lease_id"], task["attempts"]) == ("running", current["lease_id"], 2)


def test_a_finished_task_cannot_be_retried(producer: Caller, worker: Caller) -> None:
    task_id = put(producer, QUEUE)
    lease = take_one(worker, process_timeout=30, process_max_retries=5)["lease_id"]
    assert complete(worker, task_id, {"status_code": 200}, lease).status == 200

    assert_error(retry(worker, task_id, lease), 409)
    assert get(worker, task_id).body["status"] == "succeeded"


def test_a_sequential_retry_releases_the_queue_lock(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    # Given a sequential take holding the queue's lock
    first = put(producer, QUEUE)
    clock.advance(1)
    second = put(producer, QUEUE)
    lease = take_one(worker, strategy="sequential", process_timeout=300, process_max_retries=1)["lease_id"]
    assert take(worker, [f"{QUEUE}:0"], 1, strategy="sequential") == {}

    # When the holder retries with a delay
    assert retried(worker, first, lease, {"delay_seconds": 60})["status"] == "waiting"

    # Then another sequential take of that queue gets a task right away
    assert taken_ids(take(worker, [f"{QUEUE}:0"], 1, strategy="sequential")) == {f"{QUEUE}:0": [second]}


@pytest.mark.parametrize("delay", [-1, 43_201, "5", 1.5])
def test_delay_seconds_out_of_range_is_a_400(producer: Caller, worker: Caller, delay: Any) -> None:
    task_id = put(producer, QUEUE)
    lease = take_one(worker, process_timeout=30, process_max_retries=1)["lease_id"]

    assert_error(retry(worker, task_id, lease, {"delay_seconds": delay}), 400, "delay_seconds")
    task = get(worker, task_id).body
    assert (task["status"], task["lease_id"]) == ("running", lease)


def test_the_longest_delay_is_accepted(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    task_id = put(producer, QUEUE, timeout=86_400)
    lease = take_one(worker, process_timeout=30, process_max_retries=1)["lease_id"]

    assert retried(worker, task_id, lease, {"delay_seconds": 43_200})["status"] == "waiting"
    clock.advance(43_199)
    assert take(worker, [f"{QUEUE}:0"], 1) == {}
    clock.advance(1)
    assert taken_ids(take(worker, [f"{QUEUE}:0"], 1)) == {f"{QUEUE}:0": [task_id]}
