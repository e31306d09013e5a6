"""POST /v1/queue/put (spec §3.2): the answer, the task it creates, limits and permissions."""

from __future__ import annotations

import re

import pytest
from apigw import Caller, call
from steps import CHAT, CHAT_DATA, get, register, take

from taskq.clock import ManualClock

TASK_ID = re.compile(r"^TASK-\S+$")
DAY_MS = 86_400_000


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> str:
    register(admin, "test-queue")
    return "test-queue"


def put(caller: Caller | None, **fields):
    body = {"queue": "test-queue", "endpoint": CHAT, "data": CHAT_DATA} | fields
    return call("POST", "/v1/queue/put", body, caller)


def test_put_answers_code_timestamp_and_task_id(producer: Caller) -> None:
    answer = put(producer)

    assert answer.status == 200
    assert set(answer.body) == {"code", "timestamp", "data"}
    assert answer.body["code"] == 200
    assert isinstance(answer.body["timestamp"], int)
    assert TASK_ID.match(answer.body["data"])


def test_a_level_0_task_is_stored_as_put(producer: Caller, clock: ManualClock) -> None:
    task_id = put(producer).body["data"]

    task = get(producer, task_id).body

    assert task["task_id"] == task_id
    assert task["ak"] == producer.ak
    assert (task["queue"], task["level"], task["endpoint"]) == ("test-queue", 0, CHAT)
    assert task["data"] == CHAT_DATA
    assert task["status"] == "waiting"
    assert task["start_time"] == clock.now_ms()
    assert task["expire_time"] == clock.now_ms() + DAY_MS  # callback default: 86400 s
    assert (task["running_time"], task["completed_time"], task["attempts"]) == (0, 0, 0)
    assert (task["callback_url"], task["response_mode"]) == ("", "callback")
    assert isinstance(task["instance_id"], str)
    assert "batch_id" not in task
    assert "trace_id" not in task


def test_an_offline_task_has_batch_and_trace_ids_instead_of_instance_id(producer: Caller) -> None:
    task_id = put(producer, level=1, trace_id="trace-7").body["data"]

    task = get(producer, task_id).body

    assert task["level"] == 1
    assert (task["batch_id"], task["trace_id"]) == ("", "trace-7")
    assert "instance_id" not in task


def test_trace_id_defaults_to_empty_on_offline_levels(producer: Caller) -> None:
    task = get(producer, put(producer, level=9).body["data"]).body

    assert (task["batch_id"], task["trace_id"]) == ("", "")


def test_timeout_sets_expire_time(producer: Caller, clock: ManualClock) -> None:
    task = get(producer, put(producer, timeout=90).body["data"]).body

    assert task["expire_time"] == clock.now_ms() + 90_000


def test_callback_url_is_kept(producer: Caller) -> None:
    url = "https://producer.example.com/hooks/taskq"

    assert get(producer, put(producer, callback_url=url).body["data"]).body["callback_url"] == url


def test_data_comes_back_exactly_as_put(producer: Caller, worker: Caller) -> None:
    data = {"temperature": 0.7, "z": 1, "a": [1.5, None, True, "é"], "nested": {"b": {}, "a": []}}
    put(producer, data=data)

    (task,) = take(worker, ["test-queue:0"], 1)["test-queue:0"]

    assert task["data"] == data
    assert list(task["data"]) == list(data)  # key order too


def test_task_ids_sort_by_put_time(producer: Caller, clock: ManualClock) -> None:
    ids = []
    for _ in range(5):
        ids.append(put(producer).body["data"])
        clock.advance(ms=1)

    assert sorted(ids) == ids
    assert len(set(ids)) == 5


def test_unknown_request_fields_are_ignored(producer: Caller) -> None:
    assert put(producer, priority="high", tags=["a"]).status == 200


def test_put_to_an_unregistered_queue_is_not_found(producer: Caller) -> None:
    answer = put(producer, queue="nowhere")

    assert answer.status == 404
    assert "queue" in answer.body["message"]


@pytest.mark.parametrize("queue", ["test-queue", "other-unregistered"])
def test_put_outside_the_keys_patterns_is_forbidden(queue: str) -> None:
    confined = Caller("ak-confined", "producer", ("deepseek-*",))

    assert put(confined, queue=queue).status == 403


def test_a_worker_may_not_put(worker: Caller, admin: Caller) -> None:
    assert put(worker).status == 403
    assert take(admin, ["test-queue:0"], 10) == {}


def test_an_admin_may_put(admin: Caller) -> None:
    assert put(admin).status == 200


@pytest.mark.parametrize("mode", ["blocking", "streaming"])
def test_the_api_function_leaves_online_puts_to_the_online_function(
    producer: Caller, worker: Caller, mode: str
) -> None:
    """Online puts wait, which needs the streaming integration: the online function serves them
    (tests/functional/test_online_put.py). Sent here, nothing is created."""
    answer = put(producer, response_mode=mode)

    assert answer.status == 501
    assert answer.body["code"] == 501
    assert "response_mode" in answer.body["message"]
    assert "online function" in answer.body["message"]
    assert take(worker, ["test-queue:0"], 10) == {}  # nothing was created


def test_data_over_256_kib_is_too_large(producer: Caller, worker: Caller) -> None:
    answer = put(producer, data={"text": "x" * (256 * 1024)})

    assert answer.status == 413
    assert answer.body["code"] == 413
    assert "data" in answer.body["message"]
    assert take(worker, ["test-queue:0"], 10) == {}


def test_data_just_under_256_kib_is_accepted(producer: Caller, worker: Caller) -> None:
    data = {"text": "x" * (256 * 1024 - 100)}

    assert put(producer, data=data).status == 200
    assert take(worker, ["test-queue:0"], 1)["test-queue:0"][0]["data"] == data


def test_non_ascii_data_within_256_kib_is_accepted(producer: Caller, worker: Caller) -> None:
    data = {"messages": [{"role": "user", "content": "你好世界" * 20_000}]}  # 240 000 bytes as UTF-8

    assert put(producer, data=data).status == 200
    assert take(worker, ["test-queue:0"], 1)["test-queue:0"][0]["data"] == data


INVALID_FIELDS = [
    ({"data": ["not", "an", "object"]}, "data"),
    ({"data": "text"}, "data"),
    ({"data": None}, "data"),
    ({"level": 10}, "level"),
    ({"level": -1}, "level"),
    ({"level": "high"}, "level"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": 604_801}, "timeout"),
    ({"callback_url": "ftp://example.com/x"}, "callback_url"),
    ({"callback_url": "not a url"}, "callback_url"),
    ({"callback_url": "https://example.com/x\r\nX-Injected: 1"}, "callback_url"),
    ({"callback_url": "https://example.com/x\n"}, "callback_url"),
    ({"callback_url": "https://example.com/a b"}, "callback_url"),
    ({"callback_url": "https://example.com/\x00"}, "callback_url"),
    ({"callback_url": "https://example.com/\x1b[31m"}, "callback_url"),
    ({"trace_id": "t" * 129}, "trace_id"),
    ({"response_mode": "carrier-pigeon"}, "response_mode"),
    ({"queue": "bad name"}, "queue"),
    ({"endpoint": ""}, "endpoint"),
]


def test_put_rejects_invalid_fields_naming_them(producer: Caller, worker: Caller) -> None:
    """One test for all cases (moto's tables are set up once); every miss is reported."""
    misses = []
    for fields, named in INVALID_FIELDS:
        answer = put(producer, **fields)
        if not (answer.status == 400 and named in answer.body["message"]):
            misses.append((fields, named, answer))

    assert misses == []
    assert take(worker, ["test-queue:0"], 10) == {}


@pytest.mark.parametrize("missing", ["queue", "endpoint", "data"])
def test_put_requires_queue_endpoint_and_data(producer: Caller, missing: str) -> None:
    body = {"queue": "test-queue", "endpoint": CHAT, "data": CHAT_DATA}
    del body[missing]

    answer = call("POST", "/v1/queue/put", body, producer)

    assert answer.status == 400
    assert missing in answer.body["message"]


def test_a_put_whose_answer_was_lost_is_stored_once_and_answered(store, dynamodb, producer: Caller) -> None:
    """The PutItem commits, its answer is lost and botocore sends it again: the second send
    fails its condition on the task the first one wrote. Found by review: that was a 500 for a
    stored task (and a producer retrying without a key then put it twice)."""
    from tests.faults import FaultPlan, Kind, Scripted, without_backoff

    plan = FaultPlan(script=[Scripted("PutItem", 1, Kind.LOST)])
    plan.attach(without_backoff(store._db))
    try:
        answer = put(producer)
    finally:
        plan.detach(store._db)

    assert [f.kind for f in plan.injected] == [Kind.LOST]
    assert answer.status == 200, answer
    stored = dynamodb.scan(TableName="taskq-tasks")["Items"]
    assert [item["task_id"]["S"] for item in stored] == [answer.body["data"]]
