"""Regressions of issue 10, defect 7: counters stay exact when Lambda retries a stream batch from a
reported record with a shorter batch than the one that first counted (the replay marker must
never move back below what the shard has counted)."""

from __future__ import annotations

from typing import Any

import pytest
from apigw import Caller, call
from steps import complete, put, register, take
from stream import Dispatcher

from taskq.store import DynamoStore

URL = "https://producer.example.com/hooks/taskq"


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, "cb")


def completed_tasks(producer: Caller, worker: Caller, count: int) -> list[str]:
    """`count` tasks put and taken one by one, then completed in order: the completions are the
    last `count` stream records."""
    tasks = []
    for _ in range(count):
        put(producer, "cb", callback_url=URL)
        [task] = take(worker, ["cb:0"], 1)["cb:0"]
        tasks.append(task)
    for task in tasks:
        assert complete(worker, task["task_id"], {"status_code": 200}, task["lease_id"]).status == 200
    return [t["task_id"] for t in tasks]


def succeeded(admin: Caller) -> tuple[int, int]:
    answer = call("GET", "/v1/queue/cb:0/stats", None, admin)
    assert answer.status == 200, answer
    return answer.body["succeeded"], answer.body["total_completed_cnt"]


@pytest.fixture
def failing(store: DynamoStore, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Task ids whose callback cannot start (the record is reported failed) while listed."""
    failing: set[str] = set()
    real_start = store.start_delivery

    def start(delivery: Any, *args: Any) -> Any:
        if delivery.task_id in failing:
            raise RuntimeError("ProvisionedThroughputExceededException")
        return real_start(delivery, *args)

    monkeypatch.setattr(store, "start_delivery", start)
    return failing


def reported(answer: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in answer["batchItemFailures"]]


def sequence(record: dict[str, Any]) -> str:
    return record["dynamodb"]["SequenceNumber"]


def test_a_shorter_retry_failing_at_the_same_record_keeps_the_marker(
    admin: Caller, producer: Caller, worker: Caller, dispatcher: Dispatcher, failing: set[str]
) -> None:
    # Given a batch counted in full whose first completion's record failed: retried from there
    first, _, _ = completed_tasks(producer, worker, 3)
    records = dispatcher.reader.new_records()
    failing.add(first)
    assert reported(dispatcher.run_stream(records)) == [sequence(records[-3])]
    assert succeeded(admin) == (3, 3)

    # When a shorter retry (two of the three completions) fails at that record again, then the
    # full retry succeeds
    assert reported(dispatcher.run_stream(records[-3:-1])) == [sequence(records[-3])]
    failing.clear()
    assert reported(dispatcher.run_stream(records[-3:])) == []

    # Then nothing was counted twice
    assert succeeded(admin) == (3, 3)


def test_a_shorter_retry_failing_at_a_later_record_marks_what_the_shard_counted(
    admin: Caller, producer: Caller, worker: Caller, dispatcher: Dispatcher, failing: set[str]
) -> None:
    # Given a batch counted in full whose first completion's record failed: retried from there
    first, second, _ = completed_tasks(producer, worker, 3)
    records = dispatcher.reader.new_records()
    failing.add(first)
    assert reported(dispatcher.run_stream(records)) == [sequence(records[-3])]

    # When a shorter retry (two of the three completions) fails at its second record
    failing.clear()
    failing.add(second)
    assert reported(dispatcher.run_stream(records[-3:-1])) == [sequence(records[-2])]
    failing.clear()
    assert reported(dispatcher.run_stream(records[-2:])) == []

    # Then the third completion, counted by the first run, was not counted again
    assert succeeded(admin) == (3, 3)
