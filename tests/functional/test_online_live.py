"""The online function served for real: uvicorn on 127.0.0.1, an HTTP client reading the stream
as it comes, a worker acting meanwhile, DynamoDB a moto server process (real concurrent
requests, each served whole). A producer whose connection drops resumes with Last-Event-ID."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest
import uvicorn
from apigw import Caller
from online import context_header, put_body

from taskq.clock import SystemClock
from taskq.models import Principal, Role
from taskq.requests import EventsRequest, RegisterRequest, TakeRequest
from taskq.service import QueueService
from taskq.store import DynamoStore
from taskq_local.processes import free_port
from taskq_online.app import create_app
from tests.faults import FaultPlan
from tests.servers import client_for, tables_on

PRODUCER = Caller("ak-producer-live", "producer")
WORKER = Principal("ak-worker-live", Role.WORKER)
ADMIN = Principal("ak-admin-live", Role.ADMIN)


@pytest.fixture
def live_service(moto_server_endpoint: str) -> QueueService:
    service = QueueService(
        DynamoStore(client_for(moto_server_endpoint), tables_on(moto_server_endpoint)), SystemClock()
    )
    service.register(ADMIN, RegisterRequest(queue="live", endpoint="/v1/chat/completions"))
    return service


@pytest.fixture
def base_url(live_service: QueueService) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(lambda: live_service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def send(service: QueueService, task: dict, *events: dict) -> int:
    request = EventsRequest.model_validate({"events": list(events)})
    return service.append_events(WORKER, task["task_id"], task["lease_id"], request)["accepted"]


def read_ids(lines: Iterator[str], count: int) -> list[tuple[str, str]]:
    """(id, data) of the next `count` events as they arrive."""
    got, current = [], None
    for line in lines:
        if line.startswith("id: "):
            current = line[4:]
        elif line.startswith("data: ") and current is not None:
            got.append((current, line[6:]))
            current = None
            if len(got) == count:
                return got
    return got


@pytest.mark.slow
def test_a_dropped_stream_resumes_after_its_last_event_id_while_the_worker_goes_on(
    live_service: QueueService, base_url: str
) -> None:
    headers = context_header(PRODUCER)
    with httpx.Client(base_url=base_url, timeout=10) as client:
        with client.stream(
            "POST", "/v1/queue/put", json=put_body("live", response_mode="streaming"), headers=headers
        ) as first:
            assert first.status_code == 200  # the headers come at once, before any event
            task_id = first.headers["X-Task-Id"]
            [task] = live_service.take(WORKER, TakeRequest(queues=["live:0"], size=1))["live:0"]
            assert send(live_service, task, {"id": "a", "data": "1"}, {"id": "b", "data": "2"}) == 2
            seen = read_ids(first.iter_lines(), 2)
        assert seen == [("1", "1"), ("2", "2")]  # then the connection dropped

        assert send(live_service, task, {"id": "b", "data": "2"}, {"id": "c", "data": "3"}) == 1  # "b" resent
        finisher = threading.Timer(
            0.5, lambda: live_service.complete(WORKER, task_id, {"status_code": 200}, task["lease_id"])
        )
        finisher.start()
        resumed_headers = headers | {"Last-Event-ID": seen[-1][0]}
        with client.stream("GET", f"/v1/queue/{task_id}/stream", headers=resumed_headers) as second:
            rest = read_ids(second.iter_lines(), 99)  # to the end of the stream
        finisher.join()

    assert rest == [("3", "3")]


@pytest.mark.slow
def test_a_blocking_put_over_http_is_answered_when_the_worker_completes(
    live_service: QueueService, base_url: str
) -> None:
    def work() -> None:
        for _ in range(200):
            tasks = live_service.take(WORKER, TakeRequest(queues=["live:0"], size=1)).get("live:0")
            if tasks:
                live_service.complete(WORKER, tasks[0]["task_id"], {"body": {"ok": True}}, tasks[0]["lease_id"])
                return
            time.sleep(0.02)

    worker = threading.Thread(target=work)
    worker.start()
    with httpx.Client(base_url=base_url, timeout=10) as client:
        answer = client.post(
            "/v1/queue/put", json=put_body("live", response_mode="blocking"), headers=context_header(PRODUCER)
        )
    worker.join()

    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    assert answer.headers["X-Task-Id"].startswith("TASK-")


@pytest.mark.slow
def test_a_blocking_producer_that_goes_away_stops_its_wait_and_leaves_the_task(
    live_service: QueueService, base_url: str
) -> None:
    requests: list[float] = []
    plan = FaultPlan(before_request=lambda operation: requests.append(time.monotonic()))
    with httpx.Client(base_url=base_url, timeout=0.6) as client:
        plan.attach(live_service._store._db)
        try:
            with pytest.raises(httpx.ReadTimeout):  # the producer gives up and closes its connection
                client.post(
                    "/v1/queue/put", json=put_body("live", response_mode="blocking"), headers=context_header(PRODUCER)
                )
            gone_at = time.monotonic()
            time.sleep(1.5)
        finally:
            plan.detach(live_service._store._db)

    assert [t for t in requests if t > gone_at + 0.5] == []  # no poll after the next one noticed
    [task] = live_service.take(WORKER, TakeRequest(queues=["live:0"], size=1))["live:0"]  # still there
    assert task["response_mode"] == "blocking"
