"""The `Idempotency-Key` header of put (spec §3.2): scoped to the API key, 24 h, body-checked."""

from __future__ import annotations

import pytest
from apigw import Caller, call
from steps import CHAT, CHAT_DATA, complete, register, take

from taskq.clock import ManualClock

BODY = {"queue": "test-queue", "endpoint": CHAT, "data": CHAT_DATA}


@pytest.fixture(autouse=True)
def queue(admin: Caller) -> None:
    register(admin, "test-queue")


def put(caller: Caller, key: str | None, body: dict | None = None, header: str = "Idempotency-Key"):
    return call("POST", "/v1/queue/put", body or BODY, caller, {header: key} if key is not None else None)


def waiting_ids(worker: Caller) -> list[str]:
    return [t["task_id"] for t in take(worker, ["test-queue:0"], 100).get("test-queue:0", [])]


def test_a_repeat_returns_the_first_id_and_creates_nothing(producer: Caller, worker: Caller) -> None:
    first = put(producer, "order-42")

    repeats = [put(producer, "order-42") for _ in range(3)]

    assert first.status == 200
    assert all(r.status == 200 for r in repeats)
    assert {r.body["data"] for r in repeats} == {first.body["data"]}
    assert waiting_ids(worker) == [first.body["data"]]


def test_a_repeat_after_the_task_finished_still_returns_its_id(producer: Caller, worker: Caller) -> None:
    task_id = put(producer, "order-42").body["data"]
    take(worker, ["test-queue:0"], 1)
    assert complete(worker, task_id).status == 200

    assert put(producer, "order-42").body["data"] == task_id
    assert waiting_ids(worker) == []


def test_the_same_key_with_a_different_body_conflicts(producer: Caller, worker: Caller) -> None:
    first = put(producer, "order-42")

    answer = put(producer, "order-42", BODY | {"data": {"prompt": "something else"}})

    assert answer.status == 409
    assert answer.body["code"] == 409
    assert "Idempotency-Key" in answer.body["message"]
    assert waiting_ids(worker) == [first.body["data"]]


def test_keys_are_scoped_to_the_api_key(producer: Caller, worker: Caller) -> None:
    other = Caller("ak-producer-0002", "producer")

    mine, theirs = put(producer, "order-42"), put(other, "order-42")

    assert theirs.status == 200
    assert mine.body["data"] != theirs.body["data"]
    assert sorted(waiting_ids(worker)) == sorted([mine.body["data"], theirs.body["data"]])


def test_different_keys_create_different_tasks(producer: Caller, worker: Caller) -> None:
    ids = {put(producer, f"order-{i}").body["data"] for i in range(3)}

    assert len(ids) == 3
    assert sorted(waiting_ids(worker)) == sorted(ids)


def test_without_a_key_every_put_creates_a_task(producer: Caller, worker: Caller) -> None:
    ids = {put(producer, None).body["data"] for _ in range(3)}

    assert len(ids) == 3
    assert len(waiting_ids(worker)) == 3


def test_the_header_name_is_case_insensitive(producer: Caller, worker: Caller) -> None:
    """HTTP/2 clients send header names in lower case."""
    first = put(producer, "order-42", header="idempotency-key")

    assert put(producer, "order-42", header="IDEMPOTENCY-KEY").body["data"] == first.body["data"]
    assert len(waiting_ids(worker)) == 1


def test_a_key_is_remembered_for_24_hours(producer: Caller, clock: ManualClock) -> None:
    first = put(producer, "order-42", BODY | {"timeout": 604_800}).body["data"]

    clock.advance(seconds=24 * 3600 - 1)
    assert put(producer, "order-42", BODY | {"timeout": 604_800}).body["data"] == first

    clock.advance(seconds=2)
    assert put(producer, "order-42", BODY | {"timeout": 604_800}).body["data"] != first


def test_a_key_longer_than_128_characters_is_rejected(producer: Caller, worker: Caller) -> None:
    assert put(producer, "k" * 128).status == 200

    answer = put(producer, "k" * 129)

    assert answer.status == 400
    assert "Idempotency-Key" in answer.body["message"]
    assert len(waiting_ids(worker)) == 1
