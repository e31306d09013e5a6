"""Domain shapes: full queue names, key patterns, the wire task object (spec §2), statuses, ids, clocks."""

import json
import time

import pytest

from taskq.clock import ManualClock, SystemClock
from taskq.ids import new_lease_id, new_task_id
from taskq.models import Principal, QueueLevel, ResponseMode, Role, Status, Task

# --- QueueLevel.parse ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "level"),
    [
        ("test-queue:1", "test-queue", 1),
        ("a:0", "a", 0),
        ("Q_9-x:9", "Q_9-x", 9),
        ("x" * 64 + ":5", "x" * 64, 5),
    ],
)
def test_parse_full_queue_name(text, name, level):
    parsed = QueueLevel.parse(text)
    assert (parsed.name, parsed.level) == (name, level)
    assert str(parsed) == text


@pytest.mark.parametrize(
    "text",
    ["a:10", "a", ":1", "bad name:1", "a:", "a:-1", "a:1.0", "a: 1", "a:x", "a:1:2", "x" * 65 + ":1", ""],
)
def test_parse_rejects(text):
    with pytest.raises(ValueError, match="name:level"):
        QueueLevel.parse(text)


@pytest.mark.parametrize("text", ["abc\n:1", "a:\u0663"])
def test_parse_rejects_lookalike_names_and_levels(text):
    with pytest.raises(ValueError):
        QueueLevel.parse(text)


# --- Principal.covers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "queue", "covered"),
    [
        (("*",), "anything", True),
        (("deepseek-*",), "deepseek-chat", True),
        (("deepseek-*",), "gpt-4", False),
        (("deepseek-*",), "my-deepseek-chat", False),
        (("Deepseek-*",), "deepseek-chat", False),  # case-sensitive
        (("q?",), "q1", True),
        (("q?",), "q10", False),
        (("[ab]-x",), "b-x", True),
        (("[ab]-x",), "c-x", False),
        (("exact",), "exact", True),
        (("exact",), "exactly", False),
        (("a-*", "b-*"), "b-1", True),
        ((), "anything", False),
    ],
)
def test_non_admin_covers_queues_by_glob(patterns, queue, covered):
    for role in (Role.PRODUCER, Role.WORKER):
        assert Principal("ak-1", role, patterns).covers(queue) is covered


@pytest.mark.parametrize("patterns", [("*",), ("only-this",), ()])
def test_admin_covers_every_queue(patterns):
    assert Principal("ak-admin", Role.ADMIN, patterns).covers("some-other-queue")


# --- Task.to_wire ---------------------------------------------------------------------------------

SPEC_FIELDS = {
    "ak", "endpoint", "queue", "level", "data", "status", "task_id", "start_time", "running_time",
    "expire_time", "completed_time", "callback_url", "response_mode", "attempts",
}  # fmt: skip


def make_task(**changes) -> Task:
    fields = {
        "task_id": "TASK-0001750000000000-00",
        "ak": "ak-producer",
        "queue": "test-queue",
        "level": 0,
        "endpoint": "/v1/chat/completions",
        "data": {"prompt": "hi"},
        "status": Status.WAITING,
        "start_time": 1_750_000_000_000,
        "expire_time": 1_750_000_300_000,
        "instance_id": "api-1",
        "batch_id": "batch-7",
        "trace_id": "trace-9",
    }
    return Task(**(fields | changes))


def test_level_0_task_has_instance_id_and_no_batch_or_trace_id():
    wire = make_task(level=0).to_wire()
    assert set(wire) == SPEC_FIELDS | {"instance_id"}
    assert wire["instance_id"] == "api-1"


@pytest.mark.parametrize("level", [1, 9])
def test_offline_task_has_batch_and_trace_id_and_no_instance_id(level):
    wire = make_task(level=level).to_wire()
    assert set(wire) == SPEC_FIELDS | {"batch_id", "trace_id"}
    assert (wire["batch_id"], wire["trace_id"]) == ("batch-7", "trace-9")


def test_waiting_task_values_are_plain_json():
    wire = make_task(level=2, callback_url="https://cb.example/x").to_wire()
    assert json.loads(json.dumps(wire)) == wire
    assert wire["status"] == "waiting" and type(wire["status"]) is str
    assert wire["response_mode"] == "callback" and type(wire["response_mode"]) is str
    assert wire["running_time"] == 0 and wire["completed_time"] == 0
    assert wire["callback_url"] == "https://cb.example/x"
    assert wire["data"] == {"prompt": "hi"}


def test_running_task_shows_its_lease():
    task = make_task(
        status=Status.RUNNING, running_time=1_750_000_001_000, attempts=1, lease_id="LEASE-x", lease_expire_time=9
    )
    wire = task.to_wire()
    assert set(wire) == SPEC_FIELDS | {"instance_id", "lease_id", "lease_expire_time"}
    assert (wire["status"], wire["lease_id"], wire["lease_expire_time"]) == ("running", "LEASE-x", 9)
    assert (wire["running_time"], wire["attempts"]) == (1_750_000_001_000, 1)


@pytest.mark.parametrize("status", [Status.SUCCEEDED, Status.WAITING, Status.CANCELLED])
def test_lease_fields_are_hidden_unless_running(status):
    wire = make_task(status=status, lease_id="LEASE-old", lease_expire_time=9).to_wire()
    assert "lease_id" not in wire and "lease_expire_time" not in wire


def test_result_only_once_set():
    assert "result" not in make_task(status=Status.SUCCEEDED).to_wire()
    result = {"status_code": 200, "body": {"text": "ok"}}
    wire = make_task(status=Status.SUCCEEDED, completed_time=5, result=result).to_wire()
    assert wire["result"] == result
    assert (wire["status"], wire["completed_time"]) == ("succeeded", 5)


def test_response_mode_on_the_wire():
    assert make_task(response_mode=ResponseMode.BATCH).to_wire()["response_mode"] == "batch"


# --- Status -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["succeeded", "failed", "timeout", "cancelled"])
def test_final_statuses(status):
    assert Status(status).is_final


@pytest.mark.parametrize("status", ["waiting", "running"])
def test_live_statuses_are_not_final(status):
    assert not Status(status).is_final


def test_statuses_are_exactly_the_spec_ones():
    assert {s.value for s in Status} == {"waiting", "running", "succeeded", "failed", "timeout", "cancelled"}


# --- ids and clocks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t1", "t2"),
    [(1_750_000_000_000, 1_750_000_000_001), (999_999_999_999, 1_000_000_000_000), (0, 1), (1, 10)],
)
def test_task_ids_sort_by_time(t1, t2):
    assert new_task_id(t1) < new_task_id(t2)


def test_task_ids_are_unique_within_one_millisecond():
    ids = {new_task_id(1_750_000_000_000) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("TASK-") for i in ids)


def test_lease_ids_are_unique_and_long():
    leases = {new_lease_id() for _ in range(1000)}
    assert len(leases) == 1000
    for lease in leases:
        assert lease.startswith("LEASE-")
        assert len(lease.removeprefix("LEASE-")) >= 32  # at least 128 bits as hex


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(start_ms=1_000)
    assert clock.now_ms() == 1_000
    clock.advance(seconds=1.5)
    clock.advance(ms=7)
    assert clock.now_ms() == 2_507


def test_system_clock_is_epoch_milliseconds():
    before = int(time.time() * 1000)
    now = SystemClock().now_ms()
    assert before - 1 <= now <= int(time.time() * 1000) + 1
