"""POST /v1/queue/{task_id}/events (spec §4.3) through the API function's handler: fenced by
the lease, deduplicated by event id, limits, and an append whose answer was lost."""

from __future__ import annotations

from typing import Any

import pytest
from apigw import Caller, call
from online import ScriptedSleep, context_header, online_client, parse_sse, worker_events
from steps import CHAT, CHAT_DATA, complete, register, take_one

from taskq.clock import ManualClock
from taskq.models import Principal, Role
from taskq.requests import PutRequest
from taskq.service import QueueService
from tests.faults import FaultPlan, Kind, Scripted


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> str:
    register(admin, "test-queue")
    return "test-queue"


def put_task(service: QueueService, producer: Caller, mode: str = "streaming") -> str:
    """The put is not the subject here: straight through the service (the online function's put waits)."""
    principal = Principal(producer.ak, Role(producer.role))
    return service.put(principal, PutRequest(queue="test-queue", endpoint=CHAT, data=CHAT_DATA, response_mode=mode))


@pytest.fixture
def running(service: QueueService, producer: Caller, worker: Caller) -> dict[str, Any]:
    """A streaming task a worker holds."""
    put_task(service, producer)
    return take_one(worker, "test-queue")


def send(caller: Caller, task: dict[str, Any], events: Any, lease_id: str | None = "lease") -> Any:
    lease = task["lease_id"] if lease_id == "lease" else lease_id
    headers = {} if lease is None else {"X-Lease-Id": lease}
    return call("POST", f"/v1/queue/{task['task_id']}/events", {"events": events}, caller, headers)


def stored(service: QueueService, clock: ManualClock, producer: Caller, task_id: str) -> list[tuple[int, str, str]]:
    """The task's events as a producer's stream replays them (the task is ended first)."""
    service.cancel(Principal(producer.ak, Role.PRODUCER), task_id)
    with online_client(service, ScriptedSleep(clock)) as client:
        answer = client.get(f"/v1/queue/{task_id}/stream", headers=context_header(producer))
    return worker_events(parse_sse(answer.text))


def test_events_are_appended_in_order_and_numbered(service, clock, producer, worker, running) -> None:
    first = send(worker, running, [{"id": "1", "data": "a"}, {"data": {"b": 2}, "event": "delta"}])
    second = send(worker, running, [{"id": "3", "data": "c"}])

    assert (first.status, first.body) == (200, {"task_id": running["task_id"], "accepted": 2})
    assert second.body["accepted"] == 1
    assert stored(service, clock, producer, running["task_id"]) == [
        (1, "message", "a"),
        (2, "delta", '{"b":2}'),
        (3, "message", "c"),
    ]


def test_a_resent_batch_appends_nothing_twice(service, clock, producer, worker, running) -> None:
    batch = [{"id": "e1", "data": "a"}, {"id": "e2", "data": "b"}]
    assert send(worker, running, batch).body["accepted"] == 2

    again = send(worker, running, batch)
    overlapping = send(worker, running, [{"id": "e2", "data": "b"}, {"id": "e3", "data": "c"}])
    repeated_within = send(worker, running, [{"id": "e4", "data": "d"}, {"id": "e4", "data": "d"}])

    assert (again.status, again.body["accepted"]) == (200, 0)
    assert overlapping.body["accepted"] == 1
    assert repeated_within.body["accepted"] == 1
    assert [data for _, _, data in stored(service, clock, producer, running["task_id"])] == ["a", "b", "c", "d"]


def test_a_full_batch_of_a_hundred_events_with_ids_is_stored_whole(service, clock, producer, worker, running) -> None:
    batch = [{"id": f"e{i}", "data": str(i)} for i in range(100)]  # 1 batch item + 100 markers > 100 actions

    assert send(worker, running, batch).body["accepted"] == 100
    assert send(worker, running, batch).body["accepted"] == 0

    assert [data for _, _, data in stored(service, clock, producer, running["task_id"])] == [str(i) for i in range(100)]


def test_the_longest_id_fits_a_sort_key_even_in_four_byte_characters(service, clock, producer, worker, running) -> None:
    longest = "\U0001f600" * 255  # 1,020 bytes of UTF-8

    assert send(worker, running, [{"id": longest, "data": "x"}]).body["accepted"] == 1
    assert send(worker, running, [{"id": longest, "data": "x"}]).body["accepted"] == 0


def test_a_stale_lease_is_409(worker, running) -> None:
    answer = send(worker, running, [{"data": "x"}], lease_id="not-the-lease")

    assert answer.status == 409
    assert "X-Lease-Id" in answer.body["message"]


def test_a_finished_task_takes_no_more_events(worker, running) -> None:
    complete(worker, running["task_id"], {"status_code": 200}, running["lease_id"])

    assert send(worker, running, [{"data": "late"}]).status == 409


def test_a_task_that_is_not_streaming_is_409(service, producer, worker) -> None:
    put_task(service, producer, mode="blocking")
    task = take_one(worker, "test-queue")

    answer = send(worker, task, [{"data": "x"}])

    assert answer.status == 409
    assert "not streaming" in answer.body["message"]


def test_a_missing_lease_header_is_400(worker, running) -> None:
    answer = send(worker, running, [{"data": "x"}], lease_id=None)

    assert answer.status == 400
    assert answer.body["message"].lower().startswith("x-lease-id:")


def test_only_workers_of_the_queue_send_events(producer, running) -> None:
    other_producer = Caller("ak-producer-0002", "producer")

    assert send(producer, running, [{"data": "x"}]).status == 403  # sees its task, may not act as a worker
    assert send(other_producer, running, [{"data": "x"}]).status == 404  # not yours: as if there were none


def test_a_worker_outside_the_queue_sees_404(running) -> None:
    stranger = Caller("ak-worker-0002", "worker", ("other-*",))

    assert send(stranger, running, [{"data": "x"}]).status == 404


@pytest.mark.parametrize(
    ("events", "status", "named"),
    [
        ([{"data": "x" * (64 * 1024)}], 413, "events.0"),
        ([{"data": "ok"}, {"data": "y" * (65 * 1024)}], 413, "events.1"),
        ([{"data": "z" * (60 * 1024)}] * 5, 413, "events"),  # each fits, the body does not
        ([], 400, "events"),
        ([{"data": "x"}] * 101, 400, "events"),
        ([{"event": "two words", "data": "x"}], 400, "events.0.event"),
        ([{"id": "", "data": "x"}], 400, "events.0.id"),
        ([{"id": "x" * 256, "data": "x"}], 400, "events.0.id"),
        ([{"event": "message"}], 400, "events.0.data"),
    ],
)
def test_limits_name_the_field(worker, running, events, status, named) -> None:
    answer = send(worker, running, events)

    assert answer.status == status
    assert answer.body["message"].startswith(f"{named}:")


def test_an_append_whose_answer_was_lost_is_stored_once(service, store, clock, producer, worker, running) -> None:
    """The transaction commits, its answer is lost, botocore sends it again: the second send finds
    the batch item taken, and it is ours (its token), so nothing is appended twice."""
    plan = FaultPlan(script=[Scripted("TransactWriteItems", 1, Kind.LOST)])
    plan.attach(store._db)
    try:
        answer = send(worker, running, [{"data": "no id"}, {"id": "k", "data": "with id"}])
    finally:
        plan.detach(store._db)

    assert [f.kind for f in plan.injected] == [Kind.LOST]
    assert answer.body["accepted"] == 2
    assert stored(service, clock, producer, running["task_id"]) == [(1, "message", "no id"), (2, "message", "with id")]
