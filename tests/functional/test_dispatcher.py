"""The dispatcher's entry points on records read from moto's stream, for operations performed
through the API handler: callbacks (spec §4.1), their retries and dead letters, and counters."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from apigw import Caller, call
from steps import cancel, complete, put, register, take
from stream import Dispatcher, FakeReceiver

from taskq.callbacks import Attempt
from taskq.clock import ManualClock
from taskq.delivery import CallbackDispatcher, RetryPolicy
from taskq.store import Delivery, DynamoStore
from tests.faults import FaultPlan, Kind, Scripted

URL = "https://producer.example.com/hooks/taskq"
RESULT = {"status_code": 200, "request_id": "req-1", "body": {"choices": [{"text": "¡hola!"}], "t": 0.5}}


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> str:
    register(admin, "cb")
    return "cb:0"


def put_take(producer: Caller, worker: Caller, url: str = URL, **fields) -> dict:
    task_id = put(producer, "cb", callback_url=url, **fields)
    [task] = take(worker, ["cb:0"], 1)["cb:0"]
    assert task["task_id"] == task_id
    return task


def stats(admin: Caller, queue: str = "cb:0") -> dict:
    answer = call("GET", f"/v1/queue/{queue}/stats", None, admin)
    assert answer.status == 200, answer
    return answer.body


def test_a_completed_task_is_posted_once_with_its_result_and_headers(
    producer: Caller, worker: Caller, dispatcher: Dispatcher, receiver: FakeReceiver
) -> None:
    task = put_take(producer, worker)
    complete(worker, task["task_id"], RESULT, task["lease_id"])

    answer = dispatcher.run_stream()

    assert answer == {"batchItemFailures": []}
    [(url, body, headers)] = receiver.posts
    assert url == URL and json.loads(body) == RESULT
    assert headers["X-Task-Id"] == task["task_id"] and headers["X-Task-Status"] == "succeeded"
    assert headers["Content-Type"] == "application/json"


def test_replayed_records_send_nothing_again_and_count_nothing_twice(
    admin: Caller, producer: Caller, worker: Caller, dispatcher: Dispatcher, receiver: FakeReceiver
) -> None:
    task = put_take(producer, worker)
    complete(worker, task["task_id"], RESULT, task["lease_id"])
    records = dispatcher.reader.new_records()
    dispatcher.run_stream(records)
    counted = stats(admin)

    # Lambda retries a batch from its first record (a function error or time-out) or from the
    # first record the function reported failed (test below); it never bisects (template.yaml).
    dispatcher.run_stream(records)
    dispatcher.run_stream(records)

    assert receiver.task_ids() == [task["task_id"]]
    assert stats(admin) == counted
    assert (counted["succeeded"], counted["total_put_cnt"], counted["total_completed_cnt"]) == (1, 1, 1)


def test_a_replay_extended_by_new_records_counts_only_the_new_ones(
    admin: Caller, producer: Caller, worker: Caller, dispatcher: Dispatcher
) -> None:
    put(producer, "cb")
    first = dispatcher.reader.new_records()
    dispatcher.run_stream(first)
    put(producer, "cb")

    dispatcher.run_stream(first + dispatcher.reader.new_records())

    assert (stats(admin)["waiting"], stats(admin)["total_put_cnt"]) == (2, 2)


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    producer: Caller, worker: Caller, dispatcher: Dispatcher, receiver: FakeReceiver, clock: ManualClock
) -> None:
    receiver.answers = [503, "ConnectionRefusedError: [Errno 111] Connection refused"]
    task = put_take(producer, worker)
    complete(worker, task["task_id"], RESULT, task["lease_id"])
    dispatcher.run_stream()
    assert len(receiver.posts) == 1

    clock.advance(9.9)  # the backoff is 10 s, doubling
    dispatcher.run_scheduled()
    assert len(receiver.posts) == 1
    clock.advance(0.1)
    dispatcher.run_scheduled()
    assert len(receiver.posts) == 2
    clock.advance(19.9)
    dispatcher.run_scheduled()
    assert len(receiver.posts) == 2
    clock.advance(0.1)
    dispatcher.run_scheduled()
    clock.advance(3600)
    dispatcher.run_scheduled()

    assert receiver.task_ids() == [task["task_id"]] * 3  # the third attempt succeeded; no fourth
    assert [json.loads(body) for _, body, _ in receiver.posts] == [RESULT] * 3


def test_deliveries_that_keep_failing_become_dead_letters(
    admin: Caller, producer: Caller, worker: Caller, dispatcher: Dispatcher, receiver: FakeReceiver, clock: ManualClock
) -> None:
    receiver.answers = [500, 502, 404, 200]
    task = put_take(producer, worker)
    complete(worker, task["task_id"], {"status_code": 500}, task["lease_id"])
    dispatcher.run_stream()
    for _ in range(5):
        clock.advance(60)
        dispatcher.run_scheduled()

    assert len(receiver.posts) == 3  # max_attempts, then given up
    answer = call("GET", "/v1/console/dead-letters", None, admin)
    assert answer.status == 200
    [letter] = answer.body
    assert letter == {
        "task_id": task["task_id"],
        "queue": "cb",
        "level": 0,
        "callback_url": URL,
        "task_status": "failed",
        "last_status": 404,
        "last_error": "HTTP 404",
        "attempts": 3,
        "failed_time": clock.now_ms() - 3 * 60_000,  # the third run, at 120 s
    }
    assert call("GET", "/v1/console/dead-letters", None, worker).status == 403


def test_an_attempt_that_never_settles_is_retried_after_its_claim_lapses(
    producer: Caller,
    worker: Caller,
    dispatcher: Dispatcher,
    receiver: FakeReceiver,
    clock: ManualClock,
    store,
    monkeypatch,
) -> None:
    task = put_take(producer, worker)
    complete(worker, task["task_id"], RESULT, task["lease_id"])

    def crash(*args):
        raise RuntimeError("the function died between the POST and its record")

    with monkeypatch.context() as patched:
        patched.setattr(store, "record_delivered", crash)
        dispatcher.run_stream()
    clock.advance(59)
    dispatcher.run_scheduled()
    assert len(receiver.posts) == 1  # still claimed
    clock.advance(1)
    dispatcher.run_scheduled()

    assert receiver.task_ids() == [task["task_id"]] * 2  # at least once: receivers dedupe by X-Task-Id
    assert store.delivery_state(task["task_id"])["state"] == "delivered"


def test_a_timeout_is_posted_with_the_408_result(
    producer: Caller, dispatcher: Dispatcher, receiver: FakeReceiver, clock: ManualClock, store: DynamoStore
) -> None:
    from taskq.sweeper import Sweeper

    task_id = put(producer, "cb", callback_url=URL, timeout=5)
    clock.advance(6)
    Sweeper(store, clock).sweep()
    dispatcher.run_stream()

    [(_, body, headers)] = receiver.posts
    assert json.loads(body) == {"status_code": 408, "request_id": task_id}
    assert headers["X-Task-Status"] == "timeout"


def test_cancelled_tasks_and_tasks_without_url_get_no_callback(
    producer: Caller, worker: Caller, dispatcher: Dispatcher, receiver: FakeReceiver
) -> None:
    cancel(producer, put(producer, "cb", callback_url=URL))
    task = put_take(producer, worker, url="")
    complete(worker, task["task_id"], RESULT, task["lease_id"])
    complete(worker, task["task_id"], RESULT, task["lease_id"])  # an idempotent repeat changes nothing

    dispatcher.run_stream()

    assert receiver.posts == []


def test_counters_follow_every_transition(
    admin: Caller, producer: Caller, worker: Caller, dispatcher: Dispatcher, clock: ManualClock, store: DynamoStore
) -> None:
    from taskq.sweeper import Sweeper

    ids = [put(producer, "cb") for _ in range(6)]
    taken = take(worker, ["cb:0"], 4, process_timeout=10, process_max_retries=1)["cb:0"]
    complete(worker, taken[0]["task_id"], {"status_code": 200}, taken[0]["lease_id"])
    complete(worker, taken[1]["task_id"], {"status_code": 503}, taken[1]["lease_id"])
    untouched = [i for i in ids if i not in {t["task_id"] for t in taken}]
    assert cancel(producer, untouched[0]).status == 202
    clock.advance(11)
    Sweeper(store, clock).sweep()  # taken[2] and taken[3]: lease ended, one retry left: waiting again

    dispatcher.run_stream()

    assert stats(admin) == {
        "queue": "cb",
        "level": 0,
        "waiting": 3,
        "running": 0,
        "succeeded": 1,
        "failed": 1,
        "timeout": 0,
        "cancelled": 1,
        "total_put_cnt": 6,
        "total_taken_cnt": 4,
        "total_completed_cnt": 2,
    }


def test_a_record_that_fails_is_retried_from_there_without_double_counts(
    admin: Caller, producer: Caller, worker: Caller, dispatcher: Dispatcher, receiver: FakeReceiver, store, monkeypatch
) -> None:
    tasks = [put_take(producer, worker) for _ in range(2)]
    for task in tasks:
        complete(worker, task["task_id"], RESULT, task["lease_id"])
    records = dispatcher.reader.new_records()
    real_start = store.start_delivery

    def throttled_for_the_second(delivery, *args):
        if delivery.task_id == tasks[1]["task_id"]:
            raise RuntimeError("ProvisionedThroughputExceededException")
        return real_start(delivery, *args)

    monkeypatch.setattr(store, "start_delivery", throttled_for_the_second)
    answer = dispatcher.run_stream(records)
    failed = [
        i
        for i, r in enumerate(records)
        if r["dynamodb"]["SequenceNumber"] == answer["batchItemFailures"][0]["itemIdentifier"]
    ]
    monkeypatch.setattr(store, "start_delivery", real_start)
    dispatcher.run_stream(records[failed[0] :])  # Lambda's retry starts at the reported record

    assert sorted(receiver.task_ids()) == sorted(t["task_id"] for t in tasks)
    assert (stats(admin)["succeeded"], stats(admin)["total_put_cnt"], stats(admin)["total_taken_cnt"]) == (2, 2, 2)


def completed_tasks(producer: Caller, worker: Caller, count: int, url: str = URL) -> list[str]:
    ids = [put(producer, "cb", callback_url=url) for _ in range(count)]
    for task in take(worker, ["cb:0"], count)["cb:0"]:
        complete(worker, task["task_id"], RESULT, task["lease_id"])
    return ids


@pytest.mark.parametrize("first_attempts_fail", [False, True], ids=["first-attempts", "retries"])
def test_slow_receivers_get_each_callback_once_while_the_scheduled_job_runs_beside(
    first_attempts_fail: bool,
    producer: Caller,
    worker: Caller,
    dispatcher: Dispatcher,
    receiver: FakeReceiver,
    clock: ManualClock,
) -> None:
    """Every POST takes 8 s (slow, but 2xx); the scheduled job runs while attempts are still
    being made, as it does every minute in AWS (every second locally)."""
    ids = completed_tasks(producer, worker, 12)
    if first_attempts_fail:
        receiver.answers = [503] * 12
        dispatcher.run_stream()
        clock.advance(10)  # all due again
    post, beside = receiver.post, []

    def slow_post(url: str, body: bytes, headers: Any) -> Attempt:
        attempt = post(url, body, headers)
        clock.advance(8)
        if not beside:  # one scheduled run at a time, as in AWS (reserved concurrency 1)
            beside.append(True)
            dispatcher.run_scheduled()
            beside.clear()
        return attempt

    receiver.post = slow_post  # type: ignore[method-assign]
    if first_attempts_fail:
        dispatcher.run_scheduled()
    else:
        dispatcher.run_stream()
    clock.advance(3600)
    dispatcher.run_scheduled()

    assert Counter(receiver.delivered_task_ids()) == Counter(ids)  # each exactly once: never twice, none left out


def test_a_sender_that_raises_is_a_failed_attempt_retried_and_dead_lettered(
    admin: Caller, producer: Caller, worker: Caller, dispatcher: Dispatcher, receiver: FakeReceiver, clock: ManualClock
) -> None:
    [task_id] = completed_tasks(producer, worker, 1)
    post = receiver.post

    def raising_post(url: str, body: bytes, headers: Any) -> Attempt:
        post(url, body, headers)
        raise UnicodeEncodeError("ascii", "ñ", 0, 1, "ordinal not in range(128)")

    receiver.post = raising_post  # type: ignore[method-assign]
    dispatcher.run_stream()
    for _ in range(10):
        clock.advance(60)
        dispatcher.run_scheduled()

    assert receiver.task_ids() == [task_id] * 3  # max_attempts, then given up
    [letter] = call("GET", "/v1/console/dead-letters", None, admin).body
    assert (letter["task_id"], letter["attempts"], letter["last_status"]) == (task_id, 3, None)
    assert letter["last_error"].startswith("UnicodeEncodeError: ")


@pytest.mark.parametrize("first_attempts_fail", [False, True], ids=["first-attempt", "retry"])
def test_no_post_starts_on_a_claim_that_could_lapse_before_its_deadline(
    first_attempts_fail: bool,
    producer: Caller,
    worker: Caller,
    store: DynamoStore,
    dispatcher: Dispatcher,
    receiver: FakeReceiver,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by the history checker: reading the result after taking the claim was slow (the
    claim's end drew near), the POST went out anyway, outlived the claim, and the retry job made
    it a second time."""
    [task_id] = completed_tasks(producer, worker, 1)
    if first_attempts_fail:
        receiver.answers = [503]
        dispatcher.run_stream()
        clock.advance(10)  # due again
    # The step between the claim and the POST: the result from the stream record, or a read.
    read_result, slow = CallbackDispatcher._result_body, []

    def slow_read(*args: Any) -> Any:
        if not slow:  # the first one after the claim takes 55 of its 60 s
            slow.append(True)
            clock.advance(55)
        return read_result(*args)

    monkeypatch.setattr(CallbackDispatcher, "_result_body", slow_read)
    post = receiver.post

    def post_then_retry_job_runs(url: str, body: bytes, headers: Any) -> Attempt:
        attempt = post(url, body, headers)
        clock.advance(9)  # within the POST's deadline, past the claim's end
        dispatcher.run_scheduled()
        return attempt

    receiver.post = post_then_retry_job_runs  # type: ignore[method-assign]
    dispatcher.run_scheduled() if first_attempts_fail else dispatcher.run_stream()
    receiver.post = post  # type: ignore[method-assign]
    clock.advance(3600)
    dispatcher.run_scheduled()

    assert slow, "the slow read never happened"
    assert receiver.delivered_task_ids() == [task_id]  # delivered, once


def delivery_of(store: DynamoStore, task_id: str) -> Delivery:
    task = store.get_task(task_id)
    assert task is not None
    return Delivery(task.task_id, task.queue, task.level, task.callback_url, task.status.value, task.result_lease)


def test_an_attempt_stalled_past_its_claim_after_a_successful_post_reports_itself_unsettled(
    producer: Caller, worker: Caller, store: DynamoStore, receiver: FakeReceiver, clock: ManualClock
) -> None:
    """Found by the history checker: the POST succeeded, then the function stalled past its
    claim before recording it, and the retry job sent the result again. A POST and a write
    cannot be one step; what the dispatcher can do is say so instead of counting a delivery."""
    [task_id] = completed_tasks(producer, worker, 1)
    stalled = CallbackDispatcher(store, clock, receiver, RetryPolicy(), workers=1)
    retry_job = CallbackDispatcher(store, clock, receiver, RetryPolicy(), workers=1)
    claimed = stalled.start(delivery_of(store, task_id))
    assert claimed is not None
    record_delivered, stalls, outcomes = store.record_delivered, [], []

    def stall_then_record(*args: Any) -> bool:
        if not stalls:  # the first outcome write stalls; the retry job's goes through
            stalls.append(True)
            clock.advance(61)  # the claim lapses before the outcome is written
            outcomes.append(retry_job.retry_due())
        return record_delivered(*args)

    store.record_delivered = stall_then_record  # type: ignore[method-assign]
    assert stalled.attempt_all([claimed]) == Counter({"unsettled": 1})
    assert outcomes == [Counter({"delivered": 1})]
    assert receiver.delivered_task_ids() == [task_id, task_id]
    assert store.delivery_state(task_id)["state"] == "delivered"


def test_a_settle_sent_again_after_its_answer_was_lost_still_counts(
    producer: Caller, worker: Caller, store: DynamoStore, dynamodb: Any, receiver: FakeReceiver, clock: ManualClock
) -> None:
    [task_id] = completed_tasks(producer, worker, 1)
    dispatcher = CallbackDispatcher(store, clock, receiver, RetryPolicy(), workers=1)
    claimed = dispatcher.start(delivery_of(store, task_id))
    # the 1st UpdateItem renews the claim before the POST, the 2nd records the delivery
    plan = FaultPlan(script=[Scripted("UpdateItem", 2, Kind.LOST)])
    plan.attach(dynamodb)

    assert claimed is not None and dispatcher.attempt_all([claimed]) == Counter({"delivered": 1})
    assert [str(i.kind) for i in plan.injected] == ["lost"]
    assert receiver.delivered_task_ids() == [task_id]
    assert store.delivery_state(task_id)["state"] == "delivered"
