"""Stats, clear and the callback URL guard through the API handler (spec §3.10, §4.4)."""

from __future__ import annotations

import pytest
from apigw import Caller, build_event, call, send
from steps import put, register, take
from stream import Dispatcher

from taskq.clearing import QueueClearer
from taskq.clock import ManualClock
from taskq.console import ConsoleService
from taskq.store import DynamoStore
from taskq_api.app import app
from taskq_api.dependencies import get_console_service


@pytest.fixture(autouse=True)
def queues(admin: Caller) -> None:
    register(admin, "q")
    register(admin, "other")


def clear(caller: Caller, queue: str = "q:0"):
    return call("POST", f"/v1/console/{queue}/clear", None, caller)


def status(admin: Caller, task_id: str) -> str:
    return call("GET", f"/v1/queue/{task_id}", None, admin).body["status"]


# --- stats ------------------------------------------------------------------------------------------


def test_stats_of_a_queue_level_count_its_operations(admin, producer, worker, dispatcher: Dispatcher) -> None:
    put(producer, "q", level=1)
    put(producer, "q", level=1)
    put(producer, "q", level=0)
    take(worker, ["q:1"], 1)
    dispatcher.run_stream()

    answer = call("GET", "/v1/queue/q:1/stats", None, worker)

    assert answer.status == 200
    assert answer.body == {
        "queue": "q",
        "level": 1,
        "waiting": 1,
        "running": 1,
        "succeeded": 0,
        "failed": 0,
        "timeout": 0,
        "cancelled": 0,
        "total_put_cnt": 2,
        "total_taken_cnt": 1,
        "total_completed_cnt": 0,
    }
    listed = call("GET", "/v1/console/queue/stats", None, admin).body
    assert [(s["queue"], s["level"], s["total_put_cnt"]) for s in listed] == [("q", 0, 1), ("q", 1, 2)]


def test_a_registered_queue_level_without_tasks_has_zero_counts(worker) -> None:
    body = call("GET", "/v1/queue/other:9/stats", None, worker).body
    assert body["queue"] == "other" and body["level"] == 9
    assert {v for k, v in body.items() if k not in ("queue", "level")} == {0}


@pytest.mark.parametrize(
    ("path", "caller", "expected"),
    [
        ("/v1/queue/q:0/stats", Caller("ak-w", "worker", ("q*",)), 200),
        ("/v1/queue/q:0/stats", Caller("ak-w", "worker", ("other",)), 403),
        ("/v1/queue/q:0/stats", Caller("ak-p", "producer"), 403),
        ("/v1/queue/nope:0/stats", Caller("ak-a", "admin"), 404),
        ("/v1/queue/q:10/stats", Caller("ak-a", "admin"), 400),
        ("/v1/queue/q/stats", Caller("ak-a", "admin"), 400),
        ("/v1/console/queue/stats", Caller("ak-w", "worker"), 403),
        ("/v1/console/dead-letters", Caller("ak-p", "producer"), 403),
        ("/v1/console/dead-letters?limit=0", Caller("ak-a", "admin"), 400),
        ("/v1/console/dead-letters?limit=1000", Caller("ak-a", "admin"), 200),
    ],
)
def test_who_may_read_what(path: str, caller: Caller, expected: int) -> None:
    path, _, query = path.partition("?")
    event = build_event("GET", path, None, caller)
    if query:
        name, _, value = query.partition("=")
        event |= {"queryStringParameters": {name: value}, "multiValueQueryStringParameters": {name: [value]}}
    answer = send(event)
    assert answer.status == expected, answer
    if expected != 200:
        assert answer.body["code"] == expected


# --- clear -----------------------------------------------------------------------------------------


def test_clear_cancels_what_waits_and_spares_later_puts_and_other_queues(admin, producer, worker, clock) -> None:
    waiting = [put(producer, "q") for _ in range(3)]
    [running] = take(worker, ["q:0"], 1)["q:0"]
    elsewhere = put(producer, "other")
    clock.advance(0.001)

    answer = clear(admin)
    clock.advance(0.001)
    later = put(producer, "q")

    assert (answer.status, answer.body, answer.headers["X-Clear-Complete"]) == (200, "q:0", "true")
    assert [status(admin, t) for t in waiting if t != running["task_id"]] == ["cancelled", "cancelled"]
    assert status(admin, running["task_id"]) == "running" and status(admin, elsewhere) == "waiting"
    assert [t["task_id"] for t in take(worker, ["q:0"], 10)["q:0"]] == [later]
    assert clear(worker).status == 403 and clear(admin, "nope:0").status == 404


@pytest.fixture
def slow_clear(serve, store: DynamoStore, clock: ManualClock):
    """A console whose clear cancels only 5 tasks in the call, as a huge queue would leave most."""
    app.dependency_overrides[get_console_service] = lambda: ConsoleService(store, clock, QueueClearer(store, clock))
    original = QueueClearer.clear
    QueueClearer.clear = lambda self, queue, sync_limit=5: original(self, queue, sync_limit)  # type: ignore[method-assign]
    yield
    QueueClearer.clear = original  # type: ignore[method-assign]


def test_a_clear_too_big_for_the_call_hides_every_task_at_once_and_finishes_in_the_background(
    admin, producer, worker, clock, dispatcher: Dispatcher, slow_clear
) -> None:
    waiting = [put(producer, "q") for _ in range(12)]
    clock.advance(0.001)

    answer = clear(admin)

    assert answer.headers["X-Clear-Complete"] == "false"
    assert sorted(status(admin, t) for t in waiting) == ["cancelled"] * 5 + ["waiting"] * 7
    assert take(worker, ["q:0"], 100, strategy="sequential") == {}  # none of them is handed out
    assert take(worker, ["q:0"], 100) == {}
    dispatcher.run_scheduled()
    assert {status(admin, t) for t in waiting} == {"cancelled"}
    clock.advance(10)  # the marker is retired once the index had time to settle
    dispatcher.run_scheduled()
    later = put(producer, "q")
    assert [t["task_id"] for t in take(worker, ["q:0"], 10)["q:0"]] == [later]


# --- the callback URL guard ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://service.internal/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://0.0.0.0/",
        "https://gone.invalid/hook",
    ],
)
def test_put_refuses_callback_urls_into_private_networks(producer, url: str) -> None:
    answer = call("POST", "/v1/queue/put", {"queue": "q", "endpoint": "/x", "data": {}, "callback_url": url}, producer)
    assert answer.status == 400 and answer.body["message"].startswith("callback_url: ")


def test_delivery_checks_the_address_again(producer, worker, dispatcher: Dispatcher, store) -> None:
    """A host that resolved to a public address at put but to a private one at delivery is not called."""
    from taskq.callbacks import CallbackGuard, HttpSender
    from taskq.delivery import CallbackDispatcher, RetryPolicy
    from taskq_dispatcher import wiring

    task_id = put(producer, "q", callback_url="https://flip.example.com/hook")
    [task] = take(worker, ["q:0"], 1)["q:0"]
    call("POST", f"/v1/queue/{task_id}/complete", {"status_code": 200}, worker, {"X-Lease-Id": task["lease_id"]})
    sender = HttpSender(CallbackGuard(resolve=lambda host, port: ["10.0.0.7"]))
    wired = wiring.current()
    wiring.use(
        wiring.Wiring(store, wired.clock, CallbackDispatcher(store, wired.clock, sender, RetryPolicy()), wired.clearer)
    )

    dispatcher.run_stream()

    record = store.delivery_state(task_id)
    assert record["attempts"] == 1 and record["state"] == "pending"
    assert "non-public address" in record["last_error"] and "10.0.0.7" not in record["last_error"]
