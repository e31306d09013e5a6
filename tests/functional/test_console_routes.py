"""The console's JSON routes through the API handler (issue 15): queues with their per-minute
series, a queue's detail, a task's extras, and redelivering a dead letter."""

from __future__ import annotations

import pytest
from apigw import Caller, call
from steps import complete, put, register, take
from stream import Dispatcher, FakeReceiver

from taskq.clock import ManualClock

URL = "https://producer.example.com/hooks/taskq"
ADMIN_ROUTES = [
    ("GET", "/v1/console/queues"),
    ("GET", "/v1/console/queues/q:0"),
    ("GET", "/v1/console/queues/q:0/running"),
    ("GET", "/v1/console/tasks/TASK-1"),
    ("POST", "/v1/console/dead-letters/TASK-1/redeliver"),
]


@pytest.fixture(autouse=True)
def queues(admin: Caller) -> None:
    register(admin, "q")
    register(admin, "cb")


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
@pytest.mark.parametrize("caller", [Caller("ak-w", "worker", ("*",)), Caller("ak-p", "producer", ("*",))])
def test_console_routes_are_for_admins_only(method: str, path: str, caller: Caller) -> None:
    assert call(method, path, None, caller).status == 403
    assert call(method, path, None, None).status == 401  # no key at all


def test_the_queues_route_lists_counters_and_the_minutes_of_the_last_hour(admin, producer, worker, dispatcher) -> None:
    # Given three puts and a take on q:0, counted by the stream consumer
    for _ in range(3):
        put(producer, "q")
    take(worker, ["q:0"], 1)
    dispatcher.run_stream()

    # When the console lists the queues
    [queue] = call("GET", "/v1/console/queues", None, admin).body

    # Then each queue-level carries its counters and its series
    assert (queue["queue"], queue["level"], queue["waiting"], queue["running"]) == ("q", 0, 2, 1)
    [minute] = queue["series"]
    assert (minute["put"], minute["completed"], minute["waiting"], minute["running"]) == (3, 0, 2, 1)
    assert minute["time"] == dispatcher.clock.now_ms() // 60_000 * 60_000


def test_the_series_shows_only_the_last_hour(admin, producer, dispatcher: Dispatcher, clock: ManualClock) -> None:
    put(producer, "q")
    dispatcher.run_stream()
    clock.advance(3600)

    [queue] = call("GET", "/v1/console/queues", None, admin).body

    assert queue["series"] == [] and queue["waiting"] == 1


def test_a_queue_shows_its_next_waiting_and_its_running_tasks(admin, producer, worker, dispatcher, clock) -> None:
    waiting = []
    for _ in range(3):
        waiting.append(put(producer, "q"))
        clock.advance(ms=1)  # oldest first: each put a millisecond after the last
    [running] = take(worker, ["q:0"], 1)["q:0"]
    put(producer, "cb")  # another queue's task is not listed
    dispatcher.run_stream()

    answer = call("GET", "/v1/console/queues/q:0", None, admin)

    assert answer.status == 200
    body = answer.body
    assert body["endpoint"] == "/v1/chat/completions" and body["waiting"] == 2 and body["running"] == 1
    assert [t["task_id"] for t in body["waiting_tasks"]] == waiting[1:]
    running_tasks = call("GET", "/v1/console/queues/q:0/running", None, admin).body
    assert [(t["task_id"], t["lease_expire_time"]) for t in running_tasks] == [
        (running["task_id"], running["lease_expire_time"])
    ]


@pytest.mark.parametrize(("queue", "status"), [("nope:0", 404), ("q:10", 400), ("q", 400)])
def test_a_queue_that_is_not_registered_or_malformed_is_refused(admin, queue: str, status: int) -> None:
    assert call("GET", f"/v1/console/queues/{queue}", None, admin).status == status
    assert call("GET", f"/v1/console/queues/{queue}/running", None, admin).status == status


def test_a_task_page_gets_its_callback_delivery(admin, producer, worker, dispatcher: Dispatcher) -> None:
    task_id = put(producer, "cb", callback_url=URL)
    [task] = take(worker, ["cb:0"], 1)["cb:0"]
    complete(worker, task_id, {"status_code": 200}, task["lease_id"])
    dispatcher.run_stream()

    body = call("GET", f"/v1/console/tasks/{task_id}", None, admin).body

    assert body["task_id"] == task_id and body["events"] == [] and body["events_truncated"] is False
    assert body["callback"] == {"state": "delivered", "url": URL, "attempts": 1, "last_status": 200, "last_error": ""}


# --- redelivering a dead letter ---------------------------------------------------------------------


def dead_letter(producer, worker, dispatcher: Dispatcher, receiver: FakeReceiver, clock: ManualClock) -> str:
    """A task whose callback failed every attempt (3, the test policy) and is in the dead letters."""
    receiver.answers = [500, 500, 500]
    task_id = put(producer, "cb", callback_url=URL)
    [task] = take(worker, ["cb:0"], 1)["cb:0"]
    complete(worker, task_id, {"status_code": 200, "body": {"n": 1}}, task["lease_id"])
    dispatcher.run_stream()
    for _ in range(3):
        clock.advance(60)
        dispatcher.run_scheduled()
    assert len(receiver.posts) == 3
    return task_id


def test_a_redelivered_dead_letter_is_sent_again_and_succeeds_once(
    admin, producer, worker, dispatcher: Dispatcher, receiver: FakeReceiver, clock: ManualClock
) -> None:
    task_id = dead_letter(producer, worker, dispatcher, receiver, clock)
    [letter] = call("GET", "/v1/console/dead-letters", None, admin).body
    assert letter["task_id"] == task_id

    # When an admin redelivers it (twice, as a double click would)
    first = call("POST", f"/v1/console/dead-letters/{task_id}/redeliver", None, admin)
    second = call("POST", f"/v1/console/dead-letters/{task_id}/redeliver", None, admin)

    # Then it leaves the dead letters and the retry job sends it, once
    assert (first.status, first.body, second.status) == (202, task_id, 202)
    assert call("GET", "/v1/console/dead-letters", None, admin).body == []
    dispatcher.run_scheduled()
    clock.advance(3600)
    dispatcher.run_scheduled()
    assert receiver.task_ids() == [task_id] * 4 and receiver.delivered_task_ids() == [task_id]
    # and once delivered it cannot be redelivered
    again = call("POST", f"/v1/console/dead-letters/{task_id}/redeliver", None, admin)
    assert again.status == 409 and "delivered" in again.body["message"]


def test_a_redelivery_that_fails_again_files_a_new_dead_letter(
    admin, producer, worker, dispatcher: Dispatcher, receiver: FakeReceiver, clock: ManualClock
) -> None:
    task_id = dead_letter(producer, worker, dispatcher, receiver, clock)
    receiver.answers = [503, 503, 503]

    assert call("POST", f"/v1/console/dead-letters/{task_id}/redeliver", None, admin).status == 202
    for _ in range(3):
        dispatcher.run_scheduled()
        clock.advance(60)

    [letter] = call("GET", "/v1/console/dead-letters", None, admin).body
    assert (letter["task_id"], letter["attempts"], letter["last_status"]) == (task_id, 3, 503)
    assert len(receiver.posts) == 6


def test_redelivering_a_task_without_a_delivery_is_404(admin) -> None:
    answer = call("POST", "/v1/console/dead-letters/TASK-nope/redeliver", None, admin)
    assert answer.status == 404 and answer.body["message"].startswith("task_id:")


def test_the_openapi_document_has_the_console_routes_but_not_its_pages() -> None:
    paths = call("GET", "/openapi.json", None, None).body["paths"]

    redeliver = paths["/v1/console/dead-letters/{task_id}/redeliver"]["post"]
    assert "202" in redeliver["responses"] and "admin" in redeliver["summary"]
    assert {"/v1/console/queues", "/v1/console/queues/{queue_level}", "/v1/console/tasks/{task_id}"} <= set(paths)
    assert not [p for p in paths if p.startswith("/console")]
