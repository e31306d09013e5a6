"""`POST /v1/queue/put-batch` (spec §3.13): each item a put of its own, answered in order."""

from __future__ import annotations

import pytest
from apigw import Caller, call
from steps import CHAT, CHAT_DATA, register, take

from taskq.clock import ManualClock

PATH = "/v1/queue/put-batch"


def item(queue: str = "test-queue", **fields: object) -> dict:
    return {"queue": queue, "endpoint": CHAT, "data": CHAT_DATA} | fields


def put_batch(caller: Caller, tasks: object):
    return call("POST", PATH, {"tasks": tasks}, caller)


def waiting_ids(worker: Caller, queue: str = "test-queue") -> list[str]:
    return [t["task_id"] for t in take(worker, [f"{queue}:0"], 100).get(f"{queue}:0", [])]


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, "test-queue")


def test_each_item_becomes_a_task_answered_in_order(producer: Caller, worker: Caller, clock: ManualClock) -> None:
    answer = put_batch(producer, [item(data={"n": n}) for n in range(3)])

    assert answer.status == 200
    assert answer.body["code"] == 200
    assert answer.body["timestamp"] == clock.now_ms()
    ids = [entry["task_id"] for entry in answer.body["data"]]
    assert len(set(ids)) == 3
    taken = take(worker, ["test-queue:0"], 10)["test-queue:0"]
    # fifo hands a batch out in the batch's order, though every task was put in one millisecond
    assert [(t["task_id"], t["data"]) for t in taken] == [(ids[n], {"n": n}) for n in range(3)]
    assert {t["ak"] for t in taken} == {producer.ak}


def test_one_bad_item_never_fails_the_others(producer: Caller, worker: Caller, admin: Caller) -> None:
    register(admin, "other-queue")
    answer = put_batch(
        producer,
        [
            item(),
            item(level=10),  # 400 naming the field
            item("never-registered"),  # 404
            "not an object",  # 400
            item(response_mode="blocking"),  # online: not in a batch
            item(data={"text": "x" * (256 * 1024)}),  # 413
            item(callback_url="ftp://example.com/"),  # 400
            item("other-queue", level=3),
        ],
    )

    assert answer.status == 200
    data = answer.body["data"]
    assert len(data) == 8
    errors = {i: (e["error"]["code"], e["error"]["message"]) for i, e in enumerate(data) if "error" in e}
    assert sorted(errors) == [1, 2, 3, 4, 5, 6]
    assert errors[1][0] == 400 and errors[1][1].startswith("level:")
    assert errors[2] == (404, "queue: 'never-registered' is not registered")
    assert errors[3][0] == 400 and errors[3][1].startswith("task:")
    assert errors[4][0] == 400 and errors[4][1].startswith("response_mode:")
    assert errors[5][0] == 413 and errors[5][1].startswith("data:")
    assert errors[6][0] == 400 and errors[6][1].startswith("callback_url:")
    assert waiting_ids(worker) == [data[0]["task_id"]]
    assert [t["task_id"] for t in take(worker, ["other-queue:3"], 10)["other-queue:3"]] == [data[7]["task_id"]]


def test_an_item_the_single_put_accepts_is_stored_alike(producer: Caller, worker: Caller) -> None:
    fields = {"level": 2, "timeout": 60, "trace_id": "trace-1", "callback_url": "https://example.com/hook"}
    [entry] = put_batch(producer, [item(**fields)]).body["data"]
    single = call("POST", "/v1/queue/put", item(**fields), producer).body["data"]

    by_id = {t["task_id"]: t for t in take(worker, ["test-queue:2"], 10)["test-queue:2"]}
    batched, alone = by_id[entry["task_id"]], by_id[single]
    varying = {"task_id", "lease_id", "lease_expire_time"}
    assert {k: v for k, v in batched.items() if k not in varying} == {
        k: v for k, v in alone.items() if k not in varying
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "tasks"),
        ({"tasks": "no list"}, "tasks"),
        ({"tasks": []}, "tasks"),
        ({"tasks": [item()] * 101}, "tasks"),
        ([item()], "tasks"),
    ],
)
def test_a_body_that_is_not_a_list_of_1_to_100_is_refused_whole(
    producer: Caller, worker: Caller, body: object, field: str
) -> None:
    answer = call("POST", PATH, body, producer)

    assert answer.status == 400
    assert answer.body["message"].startswith(f"{field}:")
    assert waiting_ids(worker) == []


def test_100_items_are_accepted(producer: Caller, worker: Caller) -> None:
    answer = put_batch(producer, [item(data={"n": n}) for n in range(100)])

    assert answer.status == 200
    ids = [entry["task_id"] for entry in answer.body["data"]]
    assert len(set(ids)) == 100
    assert waiting_ids(worker) == ids


def test_items_outside_the_keys_queues_are_403_each(admin: Caller, worker: Caller) -> None:
    register(admin, "chat-a")
    narrow = Caller("ak-producer-narrow", "producer", ("chat-*",))

    data = put_batch(narrow, [item("chat-a"), item("test-queue")]).body["data"]

    assert "task_id" in data[0]
    assert data[1]["error"]["code"] == 403
    assert data[1]["error"]["message"].startswith("queue:")
    assert waiting_ids(worker) == []


def test_a_key_that_may_not_put_is_refused_whole(worker: Caller) -> None:
    answer = put_batch(worker, [item()])

    assert answer.status == 403
    assert waiting_ids(worker) == []


def test_no_key_is_401(worker: Caller) -> None:
    assert call("POST", PATH, {"tasks": [item()]}, None).status == 401
    assert waiting_ids(worker) == []


def test_the_openapi_document_describes_both_batched_routes() -> None:
    document = call("GET", "/openapi.json", None, None).body

    for path, field in (("/v1/queue/put-batch", "tasks"), ("/v1/queue/complete-batch", "results")):
        schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        model = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        assert model["required"] == [field], path
        assert model["properties"][field]["maxItems"] == 100, path
