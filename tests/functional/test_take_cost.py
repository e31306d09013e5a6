"""A take costs O(size + number of queues) DynamoDB requests, independent of how many tasks are
waiting, running or finished (spec §3.3 "Guarantees"; docs/design.md "Cost per call").

Requests are counted with a botocore hook on the moto client the store uses (the `dynamodb`
fixture). The backlog is written through the store (`DynamoStore.put_task`): a waiting task as
put would store it, a finished one as it stands after completion (no `ready_queue`, so it is
out of the ready index). Writing 10 000 tasks through the handler would take minutes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pytest
from apigw import Caller
from steps import CHAT, complete, register, take
from test_take_contention import RivalStore

from taskq.clearing import GATES_TRUSTED_MS
from taskq.clock import ManualClock
from taskq.ids import new_task_id
from taskq.models import Status, Task
from taskq.service import QueueService
from taskq.store import DynamoStore
from taskq.take import CLAIM_SLACK

DAY_MS = 86_400_000
pytestmark = pytest.mark.without_stream  # nothing here reads it; see the `dynamodb` fixture


class RequestCounter:
    """Counts DynamoDB API calls by operation name while attached."""

    def __init__(self, client) -> None:
        self.client = client
        self.calls: Counter[str] = Counter()

    def __call__(self, model, **_: object) -> None:
        self.calls[model.name] += 1

    def __enter__(self) -> RequestCounter:
        self.client.meta.events.register("before-call.dynamodb", self)
        return self

    def __exit__(self, *_: object) -> None:
        self.client.meta.events.unregister("before-call.dynamodb", self)


@pytest.fixture
def counting(dynamodb) -> Callable[[], RequestCounter]:
    """`with counting() as c:` counts the requests made inside the block."""
    return lambda: RequestCounter(dynamodb)


def backlog(store: DynamoStore, clock: ManualClock, queue: str, waiting: int, finished: int = 0) -> None:
    now = clock.now_ms()
    for i in range(waiting + finished):
        done = i < finished  # the finished ones are the oldest: they stood at the head of the queue
        store.put_task(
            Task(
                task_id=new_task_id(now - 10_000 + i),
                ak="ak-producer-0001",
                queue=queue,
                level=0,
                endpoint=CHAT,
                data={"i": i},
                status=Status.SUCCEEDED if done else Status.WAITING,
                start_time=now - 10_000 + i,
                expire_time=now + DAY_MS,
                completed_time=now - 1 if done else 0,
                attempts=1 if done else 0,
            ),
            None,
            now,
        )


@pytest.mark.slow
def test_fifo_take_costs_the_same_with_10_or_10_000_tasks(
    admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, counting
) -> None:
    register(admin, "small")
    register(admin, "big")  # the service now knows both registrations: no registration read below
    backlog(store, clock, "small", waiting=10)
    backlog(store, clock, "big", waiting=5_000, finished=5_000)

    with counting() as small:
        small_answer = take(worker, ["small:0"], 10, strategy="fifo")
    with counting() as big:
        big_answer = take(worker, ["big:0"], 10, strategy="fifo")

    assert len(small_answer["small:0"]) == len(big_answer["big:0"]) == 10
    assert big.calls == small.calls
    # One BatchGetItem reads the queue's clear marker (a queue this instance has not taken from
    # yet); one Query reads the head of the ready index (size + 4 stand-ins, in one page); each
    # of the 10 tasks is granted by one conditional UpdateItem that returns the new item.
    assert small.calls == Counter({"BatchGetItem": 1, "Query": 1, "UpdateItem": 10})


# Expected requests for a take of size 10 over 3 queues the instance has not taken from yet
# (docs/design.md "Cost per call"):
EXPECTED = {
    # 1 BatchGetItem (the queues' clear markers) + k Query + n UpdateItem
    "fifo": Counter({"BatchGetItem": 1, "Query": 3, "UpdateItem": 10}),
    "active_passive": Counter({"BatchGetItem": 1, "Query": 3, "UpdateItem": 10}),
    # + GetItem of the cursor before, PutItem of the moved cursor after
    "round_robin": Counter({"BatchGetItem": 1, "GetItem": 1, "Query": 3, "UpdateItem": 10, "PutItem": 1}),
    # k Query, then one BatchGetItem of the clear markers, the locks and each queue's head task
    # (whole), then one TransactWriteItems (lock + task) per claim: no read-back
    "sequential": Counter({"Query": 3, "BatchGetItem": 1, "TransactWriteItems": 3}),
}


@pytest.mark.parametrize("strategy", list(EXPECTED))
def test_every_strategy_costs_the_same_over_a_backlog(
    strategy: str, admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, counting
) -> None:
    small, big = [f"s{i}" for i in range(3)], [f"b{i}" for i in range(3)]
    for name in small + big:
        register(admin, name)
    for name in small:
        backlog(store, clock, name, waiting=10)
    for name in big:
        backlog(store, clock, name, waiting=300, finished=300)

    with counting() as on_small:
        small_answer = take(worker, [f"{q}:0" for q in small], 10, strategy=strategy)
    with counting() as on_big:
        big_answer = take(worker, [f"{q}:0" for q in big], 10, strategy=strategy)

    taken = 3 if strategy == "sequential" else 10
    assert sum(map(len, small_answer.values())) == sum(map(len, big_answer.values())) == taken
    assert on_big.calls == on_small.calls == EXPECTED[strategy]


def test_a_cold_instance_reads_the_registrations_once(
    admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, counting, serve
) -> None:
    """The cost above assumes a warm function: a cold one first reads every listed queue's
    registration, in one more BatchGetItem, and then remembers them."""
    for name in ("x", "y"):
        register(admin, name)
        backlog(store, clock, name, waiting=5)
    serve(QueueService(store, clock))
    queues = ["x:0", "y:0"]

    with counting() as cold:
        take(worker, queues, 2)
    with counting() as warm:
        take(worker, queues, 2)

    # (registrations, then clear markers; the warm take reuses the markers, see below)
    assert cold.calls == Counter({"BatchGetItem": 2, "Query": 2, "UpdateItem": 2})
    assert warm.calls == Counter({"Query": 2, "UpdateItem": 2})


# --- issue 16 point 1: a warm instance's take at the physical limit ----------------------------


def takes_in_a_row(worker: Caller, queues: list[str], size: int, strategy: str, counting, times: int = 3):
    """The requests of `times` takes in a row on one instance, each counted on its own."""
    counts = []
    for _ in range(times):
        with counting() as c:
            answer = take(worker, queues, size, strategy=strategy)
        assert sum(map(len, answer.values())) == size
        counts.append(c.calls)
    return counts


@pytest.mark.parametrize("strategy", ["fifo", "active_passive"])
def test_an_uncontended_take_of_one_costs_one_query_and_one_write_once_warm(
    strategy: str, admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, counting
) -> None:
    register(admin, "q")
    backlog(store, clock, "q", waiting=10)

    first, *later = takes_in_a_row(worker, ["q:0"], 1, strategy, counting)

    # The instance's first take reads the queue's clear marker; the next ones, within the 2 s a
    # read marker is trusted (clearing.py), reuse it: 1 Query + 1 conditional UpdateItem.
    assert first == Counter({"BatchGetItem": 1, "Query": 1, "UpdateItem": 1})
    assert later == [Counter({"Query": 1, "UpdateItem": 1})] * 2


def test_an_uncontended_take_of_ten_costs_at_most_eleven_requests_once_warm(
    admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, counting
) -> None:
    register(admin, "q")
    backlog(store, clock, "q", waiting=30)

    _, *later = takes_in_a_row(worker, ["q:0"], 10, "fifo", counting)

    assert later == [Counter({"Query": 1, "UpdateItem": 10})] * 2


def test_markers_are_read_again_once_no_longer_trusted(
    admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, counting
) -> None:
    register(admin, "q")
    backlog(store, clock, "q", waiting=10)
    take(worker, ["q:0"], 1)

    clock.advance(ms=GATES_TRUSTED_MS - 1)
    with counting() as still_trusted:
        take(worker, ["q:0"], 1)
    clock.advance(ms=1)
    with counting() as expired:
        take(worker, ["q:0"], 1)

    assert still_trusted.calls == Counter({"Query": 1, "UpdateItem": 1})
    assert expired.calls == Counter({"BatchGetItem": 1, "Query": 1, "UpdateItem": 1})


def test_a_take_reads_only_the_markers_it_has_not_got(
    admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, counting, dynamodb
) -> None:
    for name in ("a", "b"):
        register(admin, name)
        backlog(store, clock, name, waiting=5)
    take(worker, ["a:0"], 1)
    keys: list[list[str]] = []

    def record_keys(params, **_: object) -> None:
        body = json.loads(params["body"])
        keys.extend([k["sk"]["S"] for k in t["Keys"]] for t in body["RequestItems"].values())

    dynamodb.meta.events.register("before-call.dynamodb.BatchGetItem", record_keys)
    take(worker, ["a:0", "b:0"], 2)

    assert keys == [["b:0"]]  # a's marker was read by the take before


def test_round_robin_over_one_queue_neither_reads_nor_writes_a_cursor(
    admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, counting
) -> None:
    register(admin, "q")
    backlog(store, clock, "q", waiting=10)

    first, *later = takes_in_a_row(worker, ["q:0"], 2, "round_robin", counting)

    assert first == Counter({"BatchGetItem": 1, "Query": 1, "UpdateItem": 2})
    assert later == [Counter({"Query": 1, "UpdateItem": 2})] * 2


def test_an_uncontended_sequential_take_of_one_costs_three_requests_every_take(
    admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, counting
) -> None:
    register(admin, "q")
    backlog(store, clock, "q", waiting=5)
    counts = []
    for _ in range(3):
        with counting() as c:
            [task] = take(worker, ["q:0"], 1, strategy="sequential")["q:0"]
        counts.append(c.calls)
        assert complete(worker, task["task_id"], lease_id=task["lease_id"]).status == 200  # frees the lock

    # One Query (candidates), one BatchGetItem (the lock, which must be fresh, the head task
    # whole, and on the first take the clear marker too), one TransactWriteItems (lock + task,
    # guarded on the task as read, so the answer is that task with the claim's changes).
    assert counts == [Counter({"Query": 1, "BatchGetItem": 1, "TransactWriteItems": 1})] * 3


def test_a_sequential_take_of_an_empty_queue_costs_one_query(
    admin: Caller, worker: Caller, clock: ManualClock, counting
) -> None:
    register(admin, "q")

    with counting() as cold:
        assert take(worker, ["q:0"], 1, strategy="sequential") == {}

    # Nothing to claim: no lock to read, and an unbounded Query needs no marker to be right.
    assert cold.calls == Counter({"Query": 1})


def test_a_sequential_take_of_a_locked_queue_costs_a_query_and_a_batch_read(
    admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, counting
) -> None:
    register(admin, "q")
    backlog(store, clock, "q", waiting=3)
    [held] = take(worker, ["q:0"], 1, strategy="sequential")["q:0"]

    with counting() as locked:
        assert take(worker, ["q:0"], 1, strategy="sequential") == {}

    assert locked.calls == Counter({"Query": 1, "BatchGetItem": 1})
    assert complete(worker, held["task_id"], lease_id=held["lease_id"]).status == 200


def test_a_sequential_take_over_two_queues_reads_both_heads_in_one_batch(
    admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, counting
) -> None:
    for name in ("a", "b"):
        register(admin, name)
        backlog(store, clock, name, waiting=3)
    take(worker, ["a:0"], 1, strategy="sequential")  # a is locked from here on

    with counting() as one:
        answer = take(worker, ["a:0", "b:0"], 1, strategy="sequential")

    assert list(answer) == ["b:0"]
    assert one.calls == Counter({"Query": 2, "BatchGetItem": 1, "TransactWriteItems": 1})


def test_an_aged_marker_of_a_queue_that_came_back_empty_costs_a_sequential_take_nothing(
    admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, counting
) -> None:
    for name, waiting in (("a", 3), ("b", 1)):
        register(admin, name)
        backlog(store, clock, name, waiting=waiting)
    take(worker, ["b:0"], 1, strategy="sequential")  # b read "no marker", and is empty from here on
    clock.advance(ms=GATES_TRUSTED_MS)
    [task] = take(worker, ["a:0"], 1, strategy="sequential")["a:0"]  # a's marker is fresh
    assert complete(worker, task["task_id"], lease_id=task["lease_id"]).status == 200

    with counting() as both:
        assert list(take(worker, ["a:0", "b:0"], 1, strategy="sequential")) == ["a:0"]

    # b's unbounded Query is right whatever its marker, so its aged read is neither sent again
    # nor held against the claim from a
    assert both.calls == Counter({"Query": 2, "BatchGetItem": 1, "TransactWriteItems": 1})


# --- issue 16: an uncontended take reads no stand-ins -----------------------------------------


def query_limits(dynamodb) -> list[int]:
    """The `Limit` of every Query sent from now on (appended as they are sent)."""
    limits: list[int] = []
    dynamodb.meta.events.register(
        "before-call.dynamodb.Query", lambda params, **_: limits.append(json.loads(params["body"])["Limit"])
    )
    return limits


@pytest.mark.parametrize(
    ("strategy", "size"),
    [("fifo", 1), ("fifo", 10), ("active_passive", 1), ("round_robin", 1), ("sequential", 1)],
)
def test_an_uncontended_take_reads_only_as_many_candidates_as_it_asks_for(
    strategy: str, size: int, admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, dynamodb
) -> None:
    register(admin, "q")
    backlog(store, clock, "q", waiting=30)
    limits = query_limits(dynamodb)

    answer = take(worker, ["q:0"], size, strategy=strategy)

    # An instance that has lost no claims reads no stand-ins (take.py `claim_slack`): a candidate
    # it then loses ends the round anyway, which reads the head again.
    assert len(answer["q:0"]) == size
    assert limits == [size]


def test_a_take_reads_stand_ins_while_its_instance_loses_claims(
    admin: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, dynamodb, serve
) -> None:
    register(admin, "q")
    backlog(store, clock, "q", waiting=30)
    rival = RivalStore(store, steals=1)
    serve(QueueService(rival, clock))
    limits = query_limits(dynamodb)

    counts = []
    for _ in range(3):
        start = len(limits)
        assert len(take(worker, ["q:0"], 1)["q:0"]) == 1
        counts.append(limits[start:])

    assert rival.stolen  # the first take's first claim was lost
    assert counts == [
        # 1 candidate; once lost, the head again: spread 2 (contention.py) + 4 stand-ins + the
        # one already tried (skipped, the index may still show it)
        [1, 2 + CLAIM_SLACK + 1],
        [2 + CLAIM_SLACK],  # the instance's spread is 2 after a take that lost a claim
        [1],  # a clean take shrank it back to 1: no stand-ins
    ]
