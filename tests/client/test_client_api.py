"""Client against the local server: the producer's calls, typed errors, configuration from the
environment, and which calls are repeated after a lost answer."""

from __future__ import annotations

import httpx2 as httpx
import pytest
from client_support import ENDPOINT

from taskq_client import Client, Conflict, NotFound, Result, TransportError, Unauthorized


class LoseAnswers(httpx.BaseTransport):
    """Sends each request for real, then for the first `lose` requests to `path` drops the
    answer as a broken connection would: the service acted, the caller never heard."""

    def __init__(self, path: str, lose: int = 1, before_sending: bool = False) -> None:
        self.inner, self.path, self.lose, self.before_sending = httpx.HTTPTransport(), path, lose, before_sending
        self.sent: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.path and self.lose > 0:
            self.lose -= 1
            if self.before_sending:
                raise httpx.ConnectError("refused", request=request)
            self.sent.append(request.url.path)
            self.inner.handle_request(request).close()
            raise httpx.ReadError("connection reset", request=request)
        self.sent.append(request.url.path)
        return self.inner.handle_request(request)


def test_put_get_wait_and_cancel(admin: Client, queue: str) -> None:
    task_id = admin.put(queue, {"prompt": "hi"}, endpoint=ENDPOINT, level=1)
    task = admin.get(task_id)
    assert (task.task_id, task.status, task.data, task.level, task.queue) == (
        task_id,
        "waiting",
        {"prompt": "hi"},
        1,
        queue,
    )
    with pytest.raises(TimeoutError):
        admin.wait(task_id, timeout=0.3)
    admin.cancel(task_id)
    admin.cancel(task_id)  # cancelling again answers 202 too: cancel is safe to repeat
    assert admin.wait(task_id, timeout=5).status == "cancelled"


def test_put_defaults_to_the_queues_endpoint(admin: Client, queue: str) -> None:
    task = admin.get(admin.put(queue, {}))
    assert task.endpoint == ENDPOINT and task.level == 0


def test_take_complete_and_wait(admin: Client, queue: str) -> None:
    task_id = admin.put(queue, {"n": 1}, level=2)
    [taken] = admin.take([f"{queue}:2"], size=5, process_timeout=30)
    assert (taken.task_id, taken.status, taken.attempts) == (task_id, "running", 1) and taken.lease_id
    assert admin.heartbeat(task_id, taken.lease_id, 30) >= taken.lease_expire_time
    admin.complete(task_id, Result(status_code=201, body={"text": "done"}), taken.lease_id)
    done = admin.wait(task_id, timeout=5)
    assert done.status == "succeeded"
    assert done.result == {"status_code": 201, "request_id": task_id, "body": {"text": "done"}}


def test_errors_carry_status_and_message(server, admin: Client, queue: str) -> None:
    with pytest.raises(NotFound) as unknown:
        admin.get("TASK-0-unknown")
    assert unknown.value.status == 404 and unknown.value.message
    with pytest.raises(NotFound) as unregistered:
        admin.put("client-never-registered", {}, endpoint=ENDPOINT)
    assert "queue" in unregistered.value.message
    with Client(server.base_url, "not-a-key") as stranger, pytest.raises(Unauthorized) as refused:
        stranger.get("TASK-0-unknown")
    assert refused.value.status == 401
    task_id = admin.put(queue, {}, level=1)
    [taken] = admin.take([f"{queue}:1"], process_timeout=30)
    with pytest.raises(Conflict) as stale:
        admin.complete(task_id, {"status_code": 200}, "LEASE-not-this-one")
    assert stale.value.status == 409 and "lease" in stale.value.message.lower()
    admin.complete(task_id, {}, taken.lease_id)


def test_url_and_key_from_the_environment(server, queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKQ_URL", server.base_url)
    monkeypatch.setenv("TASKQ_API_KEY", server.admin_key)
    with Client() as client:
        assert client.get(client.put(queue, {})).queue == queue


def test_a_put_whose_answer_is_lost_is_retried_and_makes_one_task(server, admin: Client, queue: str) -> None:
    lossy = LoseAnswers("/v1/queue/put", lose=2)
    with Client(server.base_url, server.admin_key, transport=lossy, backoff=0.01) as client:
        task_id = client.put(queue, {"once": True}, level=1)
    assert lossy.sent.count("/v1/queue/put") == 3, "sent, lost twice, then answered"
    taken = admin.take([f"{queue}:1"], size=10)
    assert [t.task_id for t in taken] == [task_id], "one task, the one the caller was told"


def test_the_callers_idempotency_key_makes_repeated_puts_one_task(admin: Client, queue: str) -> None:
    first = admin.put(queue, {"a": 1}, level=1, idempotency_key="order-17")
    assert admin.put(queue, {"a": 1}, level=1, idempotency_key="order-17") == first
    with pytest.raises(Conflict):
        admin.put(queue, {"a": 2}, level=1, idempotency_key="order-17")


def test_a_take_whose_answer_is_lost_is_not_repeated(server, admin: Client, queue: str) -> None:
    admin.put(queue, {}, level=1)
    lossy = LoseAnswers("/v1/queue/take")
    client = Client(server.base_url, server.admin_key, transport=lossy, backoff=0.01)
    with client, pytest.raises(TransportError):
        client.take([f"{queue}:1"], process_timeout=30)
    assert lossy.sent == ["/v1/queue/take"], "a repeat would take a second task while the first is held"


def test_a_request_that_never_left_is_sent_again_even_for_take(server, admin: Client, queue: str) -> None:
    task_id = admin.put(queue, {}, level=1)
    refused = LoseAnswers("/v1/queue/take", lose=1, before_sending=True)
    with Client(server.base_url, server.admin_key, transport=refused, backoff=0.01) as client:
        assert [t.task_id for t in client.take([f"{queue}:1"])] == [task_id]


def test_an_unreachable_service_is_a_transport_error() -> None:
    with Client("http://127.0.0.1:9", "k", retries=1, backoff=0.01) as client, pytest.raises(TransportError):
        client.get("TASK-0")
