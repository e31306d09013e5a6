"""Sharded queue heads (issue 14 point 1, docs/design.md "Sharded queue heads"): the admin route
raising a queue-level's shard count, puts spread over the shards, and every strategy keeping
its meaning at K = 4 through the handler; a raise while puts and takes run; a clear at K = 4."""

from __future__ import annotations

import pytest
from apigw import Caller, call
from steps import complete, put, register, take, taken_ids

from taskq.clock import ManualClock
from taskq.models import QueueLevel
from taskq.service import REGISTRATION_REREAD_MS, QueueService
from taskq.store import DynamoStore

K = 4


def raise_shards(caller: Caller, queue: str, body: object):
    return call("POST", f"/v1/console/{queue}/shards", body, caller)


def sharded(admin: Caller, *names: str, shards: int = K) -> None:
    for name in names:
        register(admin, name)
        answer = raise_shards(admin, f"{name}:0", {"shards": shards})
        assert answer.status == 200, answer


def shards_of(store: DynamoStore, task_ids: list[str]) -> set[int]:
    return {store.get_task(t).shard for t in task_ids}  # type: ignore[union-attr]


def put_spread(producer: Caller, clock: ManualClock, store: DynamoStore, queue: str, count: int) -> list[str]:
    """`count` tasks, two per millisecond (so ties on start_time are broken by task id across
    shards), in fifo order; asserts they landed in more than one shard, or the test proves nothing."""
    ids = []
    for i in range(count):
        ids.append(put(producer, queue))
        if i % 2:
            clock.advance(ms=1)
    start_times = {t: store.get_task(t).start_time for t in ids}  # type: ignore[union-attr]
    assert len(shards_of(store, ids)) > 1
    return sorted(ids, key=lambda t: (start_times[t], t))


# --- the route -------------------------------------------------------------------------------------


def test_an_admin_raises_a_queue_levels_shards_and_gets_the_registration(admin: Caller) -> None:
    register(admin, "hot")

    answer = raise_shards(admin, "hot:2", {"shards": 8})

    assert answer.status == 200
    assert answer.body == {"queue": "hot", "level": 2, "endpoint": "/v1/chat/completions", "shards": 8}
    assert raise_shards(admin, "hot:2", {"shards": 8}).status == 200  # a repeat
    assert raise_shards(admin, "hot:2", {"shards": 9}).body["shards"] == 9


@pytest.mark.parametrize("body", [{"shards": 0}, {"shards": 65}, {"shards": "4"}, {"shards": 2.5}, {}])
def test_a_count_out_of_range_or_not_an_integer_is_a_400_naming_the_field(admin: Caller, body: object) -> None:
    register(admin, "hot")

    answer = raise_shards(admin, "hot:0", body)

    assert answer.status == 400
    assert "shards" in answer.body["message"]


def test_lowering_is_a_409_naming_the_field_and_changes_nothing(admin: Caller) -> None:
    register(admin, "hot")
    raise_shards(admin, "hot:0", {"shards": 4})

    answer = raise_shards(admin, "hot:0", {"shards": 2})

    assert answer.status == 409
    assert answer.body["message"].startswith("shards:")
    assert raise_shards(admin, "hot:0", {"shards": 4}).body["shards"] == 4


def test_only_an_admin_may_raise_and_only_a_registered_queue(admin: Caller, worker: Caller) -> None:
    register(admin, "hot")

    assert raise_shards(worker, "hot:0", {"shards": 2}).status == 403
    assert raise_shards(admin, "nope:0", {"shards": 2}).status == 404
    assert raise_shards(admin, "hot", {"shards": 2}).status == 400


def test_registering_again_keeps_the_raised_shards(
    admin: Caller, producer: Caller, store: DynamoStore, clock: ManualClock
) -> None:
    sharded(admin, "hot")

    register(admin, "hot")  # a repeat of the registration must not drop the shards' tasks

    assert store.queue_shards(QueueLevel("hot", 0)) == K


# --- every strategy at K = 4 -----------------------------------------------------------------------


def test_fifo_is_exact_across_shards_and_queues(
    admin: Caller, producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock
) -> None:
    sharded(admin, "a", "b")
    order = put_spread(producer, clock, store, "a", 12) + put_spread(producer, clock, store, "b", 4)
    order_a, order_b = order[:12], order[12:]
    clock.advance(ms=1)
    late_a = put(producer, "a")  # later than every task of b

    first = taken_ids(take(worker, ["b:0", "a:0"], 5, strategy="fifo"))
    second = taken_ids(take(worker, ["b:0", "a:0"], 9, strategy="fifo"))
    third = taken_ids(take(worker, ["b:0", "a:0"], 5, strategy="fifo"))

    assert first == {"a:0": order_a[:5]}
    assert second == {"a:0": order_a[5:12], "b:0": order_b[:2]}
    assert third == {"b:0": order_b[2:], "a:0": [late_a]}


def test_active_passive_drains_the_first_queue_across_its_shards_first(
    admin: Caller, producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock
) -> None:
    sharded(admin, "a", "b")
    order_b = put_spread(producer, clock, store, "b", 6)  # older than a's, but b is passive
    order_a = put_spread(producer, clock, store, "a", 6)

    first = taken_ids(take(worker, ["a:0", "b:0"], 4, strategy="active_passive"))
    second = taken_ids(take(worker, ["a:0", "b:0"], 4, strategy="active_passive"))

    assert first == {"a:0": order_a[:4]}
    assert second == {"a:0": order_a[4:], "b:0": order_b[:2]}


def test_round_robin_takes_turns_each_queue_in_its_fifo_order(
    admin: Caller, producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock
) -> None:
    sharded(admin, "a", "b")
    order_a = put_spread(producer, clock, store, "a", 6)
    order_b = put_spread(producer, clock, store, "b", 6)

    answers = [take(worker, ["a:0", "b:0"], 3, strategy="round_robin") for _ in range(4)]

    # one per queue in turn: a, b, a | b, a, b | ..., each queue's tasks earliest first
    turns = [[t["queue"] for t in answer["a:0"] + answer["b:0"]] for answer in answers]
    assert [sorted(turn) for turn in turns] == [["a", "a", "b"], ["a", "b", "b"]] * 2
    assert [t for a in answers for t in taken_ids(a).get("a:0", [])] == order_a
    assert [t for a in answers for t in taken_ids(a).get("b:0", [])] == order_b


def test_sequential_hands_out_the_earliest_task_across_shards_one_at_a_time(
    admin: Caller, producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock
) -> None:
    sharded(admin, "s")
    order = put_spread(producer, clock, store, "s", 6)

    for expected in order:
        [task] = take(worker, ["s:0"], 3, strategy="sequential")["s:0"]
        assert task["task_id"] == expected
        assert take(worker, ["s:0"], 3, strategy="sequential") == {}  # one lock per queue-level
        assert complete(worker, task["task_id"], lease_id=task["lease_id"]).status == 200
    assert take(worker, ["s:0"], 3, strategy="sequential") == {}


def test_a_retried_task_waits_in_its_own_shard_again_and_keeps_its_place(
    admin: Caller, producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock
) -> None:
    sharded(admin, "a")
    order = put_spread(producer, clock, store, "a", 8)
    [task] = take(worker, ["a:0"], 1, process_max_retries=1)["a:0"]
    shard = store.get_task(task["task_id"]).shard  # type: ignore[union-attr]

    retried = call("POST", f"/v1/queue/{task['task_id']}/retry", {}, worker, {"X-Lease-Id": task["lease_id"]})

    assert retried.status == 200
    assert store.get_task(task["task_id"]).status.value == "waiting"  # type: ignore[union-attr]
    assert store.get_task(task["task_id"]).shard == shard  # type: ignore[union-attr]
    assert taken_ids(take(worker, ["a:0"], 8)) == {"a:0": order}


# --- a raise while puts and takes run; a clear at K = 4 --------------------------------------------


def test_a_raise_reaches_takes_within_the_bound_and_no_task_is_lost(
    admin: Caller, producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, serve
) -> None:
    """A putting instance that sees the raise and a taking one that has not yet: tasks in the
    new shards wait until the taker re-reads the registration, then every task is handed out,
    each once."""
    register(admin, "hot")
    putter, taker = QueueService(store, clock), QueueService(store, clock)
    serve(taker)
    assert take(worker, ["hot:0"], 1) == {}  # the taker caches hot's registration: 1 shard
    serve(putter)  # the raise goes through the putting instance (it updates its own cache)
    raise_shards(admin, "hot:0", {"shards": 8})
    put_ids = [put(producer, "hot") for _ in range(24)]  # puts and takes interleave
    assert max(shards_of(store, put_ids)) > 0
    serve(taker)

    handed_out: list[str] = []
    for _ in range(3):
        handed_out += taken_ids(take(worker, ["hot:0"], 24)).get("hot:0", [])
        clock.advance(ms=REGISTRATION_REREAD_MS // 4)
    seen_before_the_bound = set(handed_out)
    clock.advance(ms=REGISTRATION_REREAD_MS)
    handed_out += taken_ids(take(worker, ["hot:0"], 24)).get("hot:0", [])

    assert seen_before_the_bound == {t for t in put_ids if store.get_task(t).shard == 0}  # type: ignore[union-attr]
    assert sorted(handed_out) == sorted(put_ids)  # each exactly once


def test_a_clear_at_k_4_cancels_every_shard_and_spares_later_puts(
    admin: Caller, producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock
) -> None:
    sharded(admin, "c")
    before = put_spread(producer, clock, store, "c", 20)
    clock.advance(ms=1)

    answer = call("POST", "/v1/console/c:0/clear", None, admin)
    clock.advance(ms=1)
    after = put(producer, "c")

    assert answer.status == 200 and answer.headers["X-Clear-Complete"] == "true"
    assert {store.get_task(t).status.value for t in before} == {"cancelled"}  # type: ignore[union-attr]
    assert taken_ids(take(worker, ["c:0"], 25)) == {"c:0": [after]}


def test_the_openapi_document_lists_the_shards_route_and_its_body() -> None:
    answer = call("GET", "/openapi.json", None, None)

    route = answer.body["paths"]["/v1/console/{queue_level}/shards"]["post"]
    schema = answer.body["components"]["schemas"]["ShardsRequest"]
    assert route["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ShardsRequest"
    }
    assert (schema["properties"]["shards"]["minimum"], schema["properties"]["shards"]["maximum"]) == (1, 64)


def test_a_taker_sees_a_raise_once_its_registration_is_older_than_the_bound(
    admin: Caller, producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, serve
) -> None:
    register(admin, "hot")
    taker = QueueService(store, clock)
    serve(taker)
    assert take(worker, ["hot:0"], 1) == {}  # reads the registration: 1 shard
    store.raise_shards(QueueLevel("hot", 0), 4)  # another instance's raise, and its puts
    serve(QueueService(store, clock))
    put_ids = [put(producer, "hot") for _ in range(12)]
    in_shard_0 = [t for t in put_ids if store.get_task(t).shard == 0]  # type: ignore[union-attr]
    assert len(in_shard_0) < len(put_ids)
    serve(taker)

    clock.advance(ms=REGISTRATION_REREAD_MS - 1)
    before = taken_ids(take(worker, ["hot:0"], 12)).get("hot:0", [])
    clock.advance(ms=1)
    after = taken_ids(take(worker, ["hot:0"], 12)).get("hot:0", [])

    assert sorted(before) == sorted(in_shard_0)
    assert sorted(before + after) == sorted(put_ids)


def test_shard_heads_read_concurrently_give_the_same_exact_fifo(
    admin: Caller, producer: Caller, worker: Caller, store: DynamoStore, clock: ManualClock, dynamodb, serve
) -> None:
    serve(QueueService(store, clock, shard_query_workers=4))  # as the API function runs
    sharded(admin, "a", "b")
    order = sorted(
        put_spread(producer, clock, store, "a", 10) + put_spread(producer, clock, store, "b", 10),
        key=lambda t: (store.get_task(t).start_time, t),  # type: ignore[union-attr]
    )
    queries: list[str] = []
    dynamodb.meta.events.register("before-call.dynamodb.Query", lambda **_: queries.append("q"))

    taken = [take(worker, ["a:0", "b:0"], 4, strategy="fifo") for _ in range(5)]

    # each take: the 4 earliest tasks left, across both queues' 8 shards
    ids = [sorted(t["task_id"] for tasks in answer.values() for t in tasks) for answer in taken]
    assert ids == [sorted(order[4 * i : 4 * i + 4]) for i in range(5)]
    assert len(queries) == 5 * 2 * K  # one round per take: every shard of both queues once
