"""Regressions of issue 10 on the take path: an empty time window while a clear marker stands
(defect 3), claims whose answer was lost (defect 4), a clear racing a take (defect 8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from apigw import Caller, call
from botocore.exceptions import ConnectionClosedError
from botocore_hooks import lose_answer_once
from steps import put, register, take

from taskq.clearing import QueueClearer
from taskq.clock import ManualClock
from taskq.models import Principal, QueueLevel, Role, Status, Task
from taskq.requests import PutRequest
from taskq.service import QueueService
from taskq.store import ClaimOutcome, DynamoStore, Lease
from taskq.store.keys import READY_INDEX
from taskq_local.processes import free_port, running
from tests.conftest import TABLES
from tests.servers import client_for, dynalite_command, tables_on

QUEUE = "regress"
FULL = f"{QUEUE}:0"
PRODUCER = Principal("ak-producer-0001", Role.PRODUCER)


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, QUEUE)


def clear(admin: Caller) -> None:
    answer = call("POST", f"/v1/console/{FULL}/clear", None, admin)
    assert answer.status == 200, answer


class ReadyQueries:
    """Counts the Query requests on the ready index while attached to a client."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-call.dynamodb.Query", self)

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        self.count += json.loads(params["body"]).get("IndexName") == READY_INDEX


# --- defect 3: lower > upper ------------------------------------------------------------------


def test_a_take_whose_min_age_reaches_before_a_standing_clear_is_empty_without_a_query(
    admin: Caller, producer: Caller, worker: Caller, dynamodb: Any, clock: ManualClock
) -> None:
    # Given a clear at T (its marker stands) and a task put 1 s after it
    put(producer, QUEUE)
    clock.advance(10)
    clear(admin)
    clock.advance(1)
    put(producer, QUEUE)
    clock.advance(1)

    # When a take asks for tasks at least 5 s old: put before T - 3 s, and after T
    queries = ReadyQueries(dynamodb)
    answer = take(worker, [FULL], 5, min_age_seconds=5)

    # Then nothing qualifies, and the store knew it without an (invalid) BETWEEN query
    assert answer == {}
    assert queries.count == 0
    # while a take without min_age still reads the index and gets the later task
    assert [len(tasks) for tasks in take(worker, [FULL], 5).values()] == [1]
    assert queries.count == 1


@pytest.fixture(scope="module")
def dynalite() -> Iterator[str]:
    port = free_port()
    with running(dynalite_command(port), port) as endpoint:
        yield endpoint


def waiting_task(task_id: str, start_time: int) -> Task:
    return Task(
        task_id=task_id,
        ak="ak-producer-0001",
        queue=QUEUE,
        level=0,
        endpoint="/v1/chat/completions",
        data={},
        status=Status.WAITING,
        start_time=start_time,
        expire_time=start_time + 3_600_000,
    )


def test_find_ready_with_an_empty_window_on_dynalite(dynalite: str) -> None:
    # Given a waiting task put at 1000, on a server that validates key conditions like DynamoDB
    store = DynamoStore(client_for(dynalite), tables_on(dynalite))
    store.put_task(waiting_task("TASK-1000-a", 1000), None, 1000)
    queue = QueueLevel(QUEUE, 0)

    # When the window is empty (put after a clear at 2000, before 1500), then no task and no error
    assert store.find_ready(queue, 5000, 5, put_before=1500, put_after=2000) == []
    # and a window that holds the task still finds it
    [found] = store.find_ready(queue, 5000, 5, put_before=1500, put_after=500)
    assert found.task_id == "TASK-1000-a"


# --- defect 4: a claim whose answer was lost --------------------------------------------------


def stored(worker: Caller, task_id: str) -> dict[str, Any]:
    answer = call("GET", f"/v1/queue/{task_id}", None, worker)
    assert answer.status == 200, answer
    return answer.body


@pytest.mark.parametrize("strategy, operation", [("fifo", "UpdateItem"), ("sequential", "TransactWriteItems")])
def test_a_claim_retried_after_its_answer_was_lost_hands_the_task_out(
    producer: Caller, worker: Caller, dynamodb: Any, clock: ManualClock, strategy: str, operation: str
) -> None:
    # Given two waiting tasks, and a claim that commits but whose answer is lost (botocore retries it)
    first = put(producer, QUEUE)
    clock.advance(ms=1)
    second = put(producer, QUEUE)
    lost = lose_answer_once(dynamodb, operation)

    # When a worker takes one
    answer = take(worker, [FULL], 1, strategy=strategy, process_timeout=30)

    # Then the worker gets the task it claimed, claimed once, under the lease stored with it
    assert lost, "the fault never fired"
    [task] = answer[FULL]
    assert (task["task_id"], task["attempts"]) == (first, 1)
    assert (stored(worker, first)["status"], stored(worker, first)["lease_id"]) == ("running", task["lease_id"])

    # And a sequential queue is not left blocked: once it completes, the next one is takeable
    done = call("POST", f"/v1/queue/{first}/complete", {"status_code": 200}, worker, {"X-Lease-Id": task["lease_id"]})
    assert done.status == 200, done
    assert [t["task_id"] for t in take(worker, [FULL], 1, strategy=strategy)[FULL]] == [second]


@pytest.mark.parametrize("strategy, operation", [("fifo", "UpdateItem"), ("sequential", "TransactWriteItems")])
def test_a_claim_that_committed_but_raised_is_learned_by_one_read(
    producer: Caller, worker: Caller, dynamodb: Any, strategy: str, operation: str
) -> None:
    # Given a claim that commits, then fails for good (the SDK gave up after its retries)
    task_id = put(producer, QUEUE)
    failed: list[str] = []

    def give_up(**_: Any) -> None:
        if not failed:
            failed.append(operation)
            raise ConnectionClosedError(endpoint_url="http://dynamodb.invalid")

    dynamodb.meta.events.register(f"after-call.dynamodb.{operation}", give_up)

    # When a worker takes
    answer = take(worker, [FULL], 1, strategy=strategy)

    # Then the take learned the claim was its own, and handed the task out
    assert failed == [operation]
    [task] = answer[FULL]
    assert (task["task_id"], task["attempts"]) == (task_id, 1)
    assert stored(worker, task_id)["lease_id"] == task["lease_id"]


def test_a_repeated_claim_is_recognised_on_dynalite_which_returns_no_image(dynalite: str) -> None:
    # Given a claim that committed on a server that returns no item with a failed condition
    store = DynamoStore(client_for(dynalite), tables_on(dynalite))
    store.put_task(waiting_task("TASK-1000-b", 1000), None, 1000)
    lease = Lease("lease-b", 40_000, 30, 0)
    assert store.claim("TASK-1000-b", 10_000, lease)[0] is ClaimOutcome.CLAIMED

    # When the same claim is sent again (a retry after its answer was lost), then it is still ours
    outcome, task = store.claim("TASK-1000-b", 10_000, lease)
    assert outcome is ClaimOutcome.CLAIMED and task is not None
    assert (task.lease_id, task.attempts) == ("lease-b", 1)
    # while another lease's claim of the same task is refused
    assert store.claim("TASK-1000-b", 10_000, Lease("lease-c", 40_000, 30, 0)) == (ClaimOutcome.TASK_GONE, None)


# --- defect 8: a clear racing an in-flight take -----------------------------------------------


@pytest.mark.parametrize("strategy", ["fifo", "sequential"])  # sequential reads markers after its Query
def test_a_take_in_flight_never_hands_out_a_task_of_a_clear_that_answered(
    admin: Caller,
    producer: Caller,
    worker: Caller,
    store: DynamoStore,
    clock: ManualClock,
    monkeypatch: Any,
    strategy: str,
) -> None:
    # Given a waiting task, and a clear too big to cancel anything within its call
    task_id = put(producer, QUEUE)
    clock.advance(ms=1)
    clearer = QueueClearer(store, clock)
    find_ready = store.find_ready
    cleared: list[bool] = []

    def clear_answers_meanwhile(*args: Any, **kwargs: Any) -> Any:
        found = find_ready(*args, **kwargs)
        if not cleared:  # the take has read the gates (no marker) and its candidates
            cleared.append(clearer.clear(QueueLevel(QUEUE, 0), sync_limit=0))
        return found

    monkeypatch.setattr(store, "find_ready", clear_answers_meanwhile)

    # When the clear answers before the take claims
    answer = take(worker, [FULL], 1, strategy=strategy)

    # Then the take hands out nothing the clear covers, and the clear's job cancels the task
    assert cleared == [False]
    assert answer == {}
    clearer.continue_pending()
    assert stored(worker, task_id)["status"] == "cancelled"


@pytest.mark.parametrize("strategy", ["fifo", "sequential"])  # sequential reads markers after its Query
def test_a_take_that_meets_a_new_clear_reads_again_past_it(
    producer: Caller,
    worker: Caller,
    service: QueueService,
    store: DynamoStore,
    clock: ManualClock,
    monkeypatch: Any,
    strategy: str,
) -> None:
    # Given a waiting task, and a take that read it before a clear came in and answered
    put(producer, QUEUE)
    clock.advance(ms=1)
    clearer = QueueClearer(store, clock)
    find_ready = store.find_ready
    later: list[str] = []

    def clear_and_put_meanwhile(*args: Any, **kwargs: Any) -> Any:
        found = find_ready(*args, **kwargs)
        if not later:
            later.append("clearing")
            clearer.clear(QueueLevel(QUEUE, 0), sync_limit=0)
            request = PutRequest(queue=QUEUE, endpoint="/v1/chat/completions", data={})
            later.append(service.put(Principal(producer.ak, Role.PRODUCER), request))  # after the clear
        return found

    monkeypatch.setattr(store, "find_ready", clear_and_put_meanwhile)

    # When the take goes on to claim, then it skips the covered task and gets the later one
    assert [t["task_id"] for t in take(worker, [FULL], 1, strategy=strategy)[FULL]] == later[1:]


@pytest.mark.parametrize("strategy", ["fifo", "sequential"])  # sequential reads markers after its Query
def test_markers_cached_by_an_earlier_take_never_hide_a_clear_that_answered(
    producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, strategy: str
) -> None:
    # Given an instance whose take read "no marker" for the queue (issue 16: later takes reuse it)
    assert take(worker, [FULL], 1, strategy=strategy) == {}
    task_id = put(producer, QUEUE)
    clock.advance(ms=1)
    # and a clear, too big to cancel anything within its call, that then answers (3 s later)
    clearer = QueueClearer(store, clock)
    assert clearer.clear(QueueLevel(QUEUE, 0), sync_limit=0) is False

    # When the same instance takes after the answer
    answer = take(worker, [FULL], 1, strategy=strategy)

    # Then it hands out nothing the clear covers, and the clear's job cancels the task
    assert answer == {}
    clearer.continue_pending()
    assert stored(worker, task_id)["status"] == "cancelled"


# --- found by the history checker: a task cancelled right after its claim ---------------------


def test_a_task_cancelled_right_after_its_sequential_claim_is_answered_as_claimed_never_cancelled(
    producer: Caller, worker: Caller, service: QueueService, dynamodb: Any
) -> None:
    # Given a waiting task, and its producer's cancel landing right after a sequential claim
    # committed, before the take answers (a read-back would have seen the cancel)
    task_id = put(producer, QUEUE)
    cancelled: list[str] = []

    def cancel_first(**_: Any) -> None:
        if not cancelled:  # the cancel's own transaction comes through here too
            cancelled.append("cancelling")
            cancelled.append(service.cancel(PRODUCER, task_id))

    dynamodb.meta.events.register("after-call.dynamodb.TransactWriteItems", cancel_first)

    # When a worker takes
    answer = take(worker, [FULL], 1, strategy="sequential")
    dynamodb.meta.events.unregister("after-call.dynamodb.TransactWriteItems", cancel_first)

    # Then the take answers the task as its claim left it (running, under the lease it took),
    # as a fifo claim's returned item would, never a cancelled image without a usable lease;
    # the cancel holds and its lease is over, and the queue's lock went with the cancel
    assert cancelled == ["cancelling", task_id]
    [task] = answer[FULL]
    assert (task["task_id"], task["status"], task["attempts"]) == (task_id, "running", 1)
    assert stored(worker, task_id)["status"] == "cancelled"
    done = call("POST", f"/v1/queue/{task_id}/complete", {"status_code": 200}, worker, {"X-Lease-Id": task["lease_id"]})
    assert done.status == 409, done
    second = put(producer, QUEUE)
    assert [t["task_id"] for t in take(worker, [FULL], 1, strategy="sequential")[FULL]] == [second]


# --- issue 16: a sequential claim answers the task as read, so the read must still hold ---------


def test_a_task_claimed_and_requeued_after_the_sequential_read_is_not_handed_out_stale(
    producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, dynamodb: Any
) -> None:
    # Given a waiting task, and between the take's read of it and its claim another taker
    # claims it and gives it back (a retry with no delay): waiting and visible again, with
    # one attempt spent, so every condition on the task alone still holds
    task_id = put(producer, QUEUE)
    rival: list[Task] = []

    def claim_and_requeue(parsed: dict[str, Any], **_: Any) -> None:
        if rival or TABLES.tasks not in parsed.get("Responses", {}):
            return
        now = clock.now_ms()
        outcome, claimed = store.claim(task_id, now, Lease("LEASE-rival", now + 60_000, 60, 3), QueueLevel(QUEUE, 0))
        assert outcome is ClaimOutcome.CLAIMED and claimed is not None
        assert store.requeue(claimed, visible_time=now)
        rival.append(claimed)

    dynamodb.meta.events.register("after-call.dynamodb.BatchGetItem", claim_and_requeue)

    # When a worker takes
    answer = take(worker, [FULL], 1, strategy="sequential")
    dynamodb.meta.events.unregister("after-call.dynamodb.BatchGetItem", claim_and_requeue)

    # Then the task as read is not handed out (its answer would say 1 attempt where 2 are
    # stored): the claim failed its guard and the task still waits, with the rival's attempt
    assert rival, "the interleaving never happened"
    assert answer == {}
    assert (stored(worker, task_id)["status"], stored(worker, task_id)["attempts"]) == ("waiting", 1)

    # And the next take hands it out exactly as stored
    [task] = take(worker, [FULL], 1, strategy="sequential")[FULL]
    now_stored = stored(worker, task_id)
    assert (task["task_id"], task["attempts"], task["lease_id"]) == (task_id, 2, now_stored["lease_id"])
    assert task == now_stored


def test_a_sequential_take_whose_cached_marker_aged_reads_it_with_its_heads_and_again_past_a_new_one(
    producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, dynamodb: Any
) -> None:
    # Given an instance that cached "no marker" for the queue with a sequential claim
    put(producer, QUEUE)
    [first] = take(worker, [FULL], 1, strategy="sequential")[FULL]
    done = call(
        "POST",
        f"/v1/queue/{first['task_id']}/complete",
        {"status_code": 200},
        worker,
        {"X-Lease-Id": first["lease_id"]},
    )
    assert done.status == 200, done
    # and then a task, a clear that covers it and answers (3 s later: the cached read has aged), a later task
    covered = put(producer, QUEUE)
    clock.advance(ms=1)
    assert QueueClearer(store, clock).clear(QueueLevel(QUEUE, 0), sync_limit=0) is False
    later = put(producer, QUEUE)
    queries = ReadyQueries(dynamodb)

    # When the instance takes: its Query, bounded by the aged "no marker", finds the covered
    # task first; the BatchGetItem that reads the head also reads the marker
    answer = take(worker, [FULL], 1, strategy="sequential")

    # Then it reads the index again past the marker and claims the later task, not the covered one
    assert [t["task_id"] for t in answer[FULL]] == [later]
    assert queries.count == 2
    assert stored(worker, covered)["status"] == "waiting"  # left to the clear's job


def test_a_take_whose_later_claim_fails_for_good_hands_out_what_it_claimed(
    store: DynamoStore, producer: Caller, worker: Caller, admin: Caller
) -> None:
    """Found by the partition simulator's review: a claim throttled past botocore's retries made
    the whole take a 500, and the tasks it had claimed before stayed leased, unseen, until their
    leases ended. What was claimed is handed out; the failure only ends the take early."""
    from tests.faults import FaultPlan, Kind, Scripted, without_backoff

    register(admin, "test-queue")
    ids = [put(producer, "test-queue") for _ in range(3)]
    # The first claim's UpdateItem goes through; every attempt at the second is throttled.
    plan = FaultPlan(script=[Scripted("UpdateItem", n, Kind.THROTTLE) for n in range(2, 12)])
    plan.attach(without_backoff(store._db))
    try:
        answer = call("POST", "/v1/queue/take", {"queues": ["test-queue:0"], "size": 3}, worker)
    finally:
        plan.detach(store._db)

    assert plan.injected, "the second claim was throttled"
    assert answer.status == 200, answer
    [task] = answer.body["test-queue:0"]  # (equal put times: the order among the three is their ids')
    assert task["task_id"] in ids and task["status"] == "running"
    rest = take(worker, ["test-queue:0"], 3)["test-queue:0"]
    assert sorted(t["task_id"] for t in rest) == sorted(set(ids) - {task["task_id"]})  # never claimed: waiting
