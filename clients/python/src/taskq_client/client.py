"""`Client`: every route a producer or a worker uses, over one pooled, thread-safe HTTP client.

Retries: a request that never reached the service (a connect error) is always sent again; one
that may have reached it only when repeating it is harmless — reads, cancel, heartbeat,
complete under its lease, events with ids, and put, which always carries an `Idempotency-Key`
(spec §3.2) so a repeat returns the first task instead of making a second. take and retry are
not repeated after a lost answer: what they did ends by itself when the lease runs out.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx2 as httpx

from . import sse
from .errors import ApiError, Conflict, TransportError, error_for
from .models import Event, Result, Task

DEFAULT_URL = "http://127.0.0.1:3000"
# Answers that say "try again": only for requests that are safe to repeat.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
ONLINE_WAIT_MARGIN = 15.0  # seconds past the task's own timeout before the HTTP read gives up


class Client:
    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.1,
        max_connections: int = 100,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = (base_url or os.environ.get("TASKQ_URL") or DEFAULT_URL).rstrip("/")
        api_key = api_key if api_key is not None else os.environ.get("TASKQ_API_KEY")
        self.retries, self.backoff = retries, backoff
        self._endpoints: dict[str, str] = {}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------

    def _pause(self, attempt: int) -> None:
        time.sleep(self.backoff * 2**attempt * random.uniform(0.5, 1.0))  # noqa: S311 - jitter

    def _send(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        """A 2xx answer, or the typed error; retried as the module docstring says."""
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as e:
                if last or not (idempotent or isinstance(e, NEVER_SENT)):
                    raise TransportError(f"{method} {path}: {e!r}") from e
            else:
                if response.is_success:
                    return response
                if last or not idempotent or response.status_code not in RETRY_STATUSES:
                    raise error_for(response.status_code, _decoded(response))
            self._pause(attempt)
        raise AssertionError("unreachable")

    def _json(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> Any:
        return _decoded(self._send(method, path, idempotent=idempotent, **kwargs))

    # -- producer --------------------------------------------------------------------------

    def endpoint_of(self, queue: str) -> str:
        """The queue's registered endpoint (spec §3.1), remembered: put's default endpoint."""
        if queue not in self._endpoints:
            answer = self._json("GET", f"/v1/queue/{_segment(queue)}/metadata", idempotent=True)
            self._endpoints[queue] = answer["endpoint"]
        return self._endpoints[queue]

    def _put_body(self, queue: str, data: Mapping[str, Any], endpoint: str | None, **fields: Any) -> dict[str, Any]:
        body = {"queue": queue, "endpoint": endpoint or self.endpoint_of(queue), "data": dict(data)}
        return body | {k: v for k, v in fields.items() if v is not None}

    def put(
        self,
        queue: str,
        data: Mapping[str, Any],
        *,
        endpoint: str | None = None,
        level: int = 0,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        timeout: int | None = None,
        trace_id: str | None = None,
    ) -> str:
        """Puts a task (callback mode); its id. Safe to retry: see the module docstring."""
        body = self._put_body(
            queue, data, endpoint, level=level, callback_url=callback_url, timeout=timeout, trace_id=trace_id
        )
        headers = {"Idempotency-Key": idempotency_key or f"put-{uuid.uuid4()}"}
        return self._json("POST", "/v1/queue/put", json=body, headers=headers, idempotent=True)["data"]

    def put_batch(self, tasks: Sequence[Mapping[str, Any]]) -> list[str | ApiError]:
        """Puts many tasks (callback mode) with one request per 100 (spec §3.13). Each item is a
        put's fields: `queue`, `data` and optionally `endpoint` (default: the queue's), `level`,
        `callback_url`, `timeout`, `trace_id`, `idempotency_key`. Per item, in order: its task
        id, or the error the service answered for that item alone. Every item carries a key (one
        is made up when none is given), so a batch whose answer was lost is sent again safely."""
        items = []
        for task in tasks:
            fields = dict(task)
            queue, data = fields.pop("queue"), fields.pop("data")
            body = self._put_body(queue, data, fields.pop("endpoint", None), **fields)
            items.append(body | {"idempotency_key": body.get("idempotency_key") or f"put-{uuid.uuid4()}"})
        answers: list[str | ApiError] = []
        for chunk in _chunks(items):
            data = self._json("POST", "/v1/queue/put-batch", json={"tasks": chunk}, idempotent=True)["data"]
            answers += [e["task_id"] if "task_id" in e else _item_error(e["error"]) for e in data]
        return answers

    def get(self, task_id: str) -> Task:
        return Task.model_validate(self._json("GET", _task_path(task_id), idempotent=True))

    def wait(self, task_id: str, timeout: float | None = 60, *, poll: float = 0.05, max_poll: float = 1.0) -> Task:
        """Polls until the task reaches a final status; TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            task = self.get(task_id)
            if task.final:
                return task
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{task_id} is still {task.status} after {timeout} s")
            pause = poll if deadline is None else min(poll, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
            poll = min(poll * 1.5, max_poll)

    def cancel(self, task_id: str) -> None:
        self._send("POST", f"{_task_path(task_id)}/cancel", idempotent=True)  # a repeat answers 202 too

    def call(
        self,
        queue: str,
        data: Mapping[str, Any],
        *,
        endpoint: str | None = None,
        timeout: int | None = None,
        idempotency_key: str | None = None,
    ) -> Result:
        """A blocking put (spec §4.2): waits for the worker's result. TimeoutError when the task
        timed out, Conflict when it was cancelled. A broken connection is retried with the same
        Idempotency-Key, which the service answers by waiting on the first task again."""
        body = self._put_body(queue, data, endpoint, level=0, response_mode="blocking", timeout=timeout)
        headers = {"Idempotency-Key": idempotency_key or f"call-{uuid.uuid4()}"}
        read = httpx.Timeout(self._http.timeout.connect, read=(timeout or 300) + ONLINE_WAIT_MARGIN)
        response = self._send_online(body, headers, read)
        answer = _decoded(response)
        return Result(status_code=response.status_code, body=answer if answer is not None else {})

    def _send_online(self, body: dict[str, Any], headers: dict[str, str], read: httpx.Timeout) -> httpx.Response:
        """The blocking put's answer: 2xx or a worker's own status; the service's 408/409 as errors."""
        for attempt in range(self.retries + 1):
            try:
                response = self._http.post("/v1/queue/put", json=body, headers=headers, timeout=read)
            except httpx.TransportError as e:
                if attempt == self.retries:
                    raise TransportError(f"blocking put: {e!r}") from e
                self._pause(attempt)
                continue
            if "x-task-id" not in response.headers:  # refused before a task existed
                raise error_for(response.status_code, _decoded(response))
            if response.status_code in (408, 409) and _is_error_body(_decoded(response), response.status_code):
                error = error_for(response.status_code, _decoded(response))
                raise TimeoutError(error.message) if response.status_code == 408 else error
            return response
        raise AssertionError("unreachable")

    def stream(
        self,
        queue: str,
        data: Mapping[str, Any],
        *,
        endpoint: str | None = None,
        timeout: int | None = None,
        idempotency_key: str | None = None,
    ) -> Iterator[Event]:
        """A streaming put (spec §4.2): the worker's events as they come. After a dropped
        connection it resumes with GET /v1/queue/{task_id}/stream and Last-Event-ID, so no event
        is lost or repeated. A task that does not succeed ends with an `error` event."""
        body = self._put_body(queue, data, endpoint, level=0, response_mode="streaming", timeout=timeout)
        headers = {"Idempotency-Key": idempotency_key or f"stream-{uuid.uuid4()}", "Accept": "text/event-stream"}
        read = httpx.Timeout(self._http.timeout.connect, read=60.0)  # keep-alives come every 15 s
        task_id: str | None = None
        last_id: str | None = None
        for attempt in range(self.retries + 1):
            if task_id is None:
                request = self._http.build_request("POST", "/v1/queue/put", json=body, headers=headers, timeout=read)
            else:
                resume = {"Accept": "text/event-stream"} | ({"Last-Event-ID": last_id} if last_id else {})
                request = self._http.build_request("GET", f"{_task_path(task_id)}/stream", headers=resume, timeout=read)
            try:
                response = self._http.send(request, stream=True)
                try:
                    if not response.is_success:
                        response.read()
                        raise error_for(response.status_code, _decoded(response))
                    task_id = response.headers.get("x-task-id", task_id)
                    for event in sse.parse(response.iter_lines()):
                        last_id = event.id or last_id
                        yield event
                    return
                finally:
                    response.close()
            except httpx.TransportError as e:
                if attempt == self.retries:
                    raise TransportError(f"stream of {task_id or queue}: {e!r}") from e
                self._pause(attempt)

    # -- worker ----------------------------------------------------------------------------

    def take(
        self,
        queues: Sequence[str],
        *,
        size: int = 1,
        strategy: str = "fifo",
        endpoint: str | None = None,
        process_timeout: int | None = None,
        max_retries: int | None = None,
        min_age_seconds: int | None = None,
    ) -> list[Task]:
        """Up to `size` running tasks, in the order the service took them, queue by queue."""
        body: dict[str, Any] = {"queues": list(queues), "size": size, "strategy": strategy}
        optional = {"endpoint": endpoint, "process_timeout": process_timeout, "process_max_retries": max_retries}
        body |= {k: v for k, v in (optional | {"min_age_seconds": min_age_seconds}).items() if v is not None}
        answer = self._json("POST", "/v1/queue/take", json=body, idempotent=False)
        return [Task.model_validate(t) for queue in queues for t in answer.get(queue, [])]

    def complete(self, task_id: str, result: Result | Mapping[str, Any], lease_id: str | None = None) -> None:
        """Finishes the task with `result`: a Result, or the complete body as the spec has it
        (`{"status_code", "request_id", "body"}`). Conflict (409) when `lease_id` is no longer
        the task's lease: the caller was fenced."""
        body = result_body(task_id, result) if isinstance(result, Result) else dict(result)
        headers = {"X-Lease-Id": lease_id} if lease_id else {}
        self._send("POST", f"{_task_path(task_id)}/complete", json=body, headers=headers, idempotent=bool(lease_id))

    def complete_batch(
        self, results: Sequence[tuple[str, str | None, Result | Mapping[str, Any]]]
    ) -> list[ApiError | None]:
        """Completes many tasks, `(task_id, lease_id, result)` each, with one request per 100
        (spec §3.13). Per item, in order: None when it was accepted, else the error the service
        answered for that item alone (Conflict: that lease was fenced). Repeated after a lost
        answer only when every item names its lease, as `complete` is."""
        items = []
        for task_id, lease_id, result in results:
            body = result_body(task_id, result) if isinstance(result, Result) else dict(result)
            items.append({"task_id": task_id, "result": body} | ({"lease_id": lease_id} if lease_id else {}))
        answers: list[ApiError | None] = []
        for chunk in _chunks(items):
            fenced = all("lease_id" in item for item in chunk)
            data = self._json("POST", "/v1/queue/complete-batch", json={"results": chunk}, idempotent=fenced)["data"]
            answers += [None if e["code"] == 200 else _item_error(e) for e in data]
        return answers

    def heartbeat(self, task_id: str, lease_id: str, process_timeout: int | None = None) -> int:
        """Extends the lease; the new lease_expire_time (ms). Conflict when the lease ended."""
        body = {} if process_timeout is None else {"process_timeout": process_timeout}
        path = f"{_task_path(task_id)}/heartbeat"
        answer = self._json("POST", path, json=body, headers={"X-Lease-Id": lease_id}, idempotent=True)
        return int(answer["lease_expire_time"])

    def retry(self, task_id: str, lease_id: str, delay_seconds: int = 0, reason: str | None = None) -> None:
        """Gives the task back for another attempt after `delay_seconds` (it fails instead when
        its retry budget is spent)."""
        body: dict[str, Any] = {"delay_seconds": int(delay_seconds)} | ({"reason": reason} if reason else {})
        path = f"{_task_path(task_id)}/retry"
        self._send("POST", path, json=body, headers={"X-Lease-Id": lease_id}, idempotent=False)

    def emit(self, task_id: str, lease_id: str, events: Sequence[Event | Mapping[str, Any]]) -> int:
        """Appends events to a streaming task (spec §4.3); how many were new. Events with ids
        are safe to resend, so the request is repeated after a lost answer only then."""
        items = [_event_item(e) for e in events]
        path = f"{_task_path(task_id)}/events"
        resend_safe = all("id" in item for item in items)
        answer = self._json(
            "POST", path, json={"events": items}, headers={"X-Lease-Id": lease_id}, idempotent=resend_safe
        )
        return int(answer.get("accepted", len(items)))

    # -- admin -----------------------------------------------------------------------------

    def register(self, queue: str, endpoint: str) -> None:
        self._send("POST", "/v1/queue/register", json={"queue": queue, "endpoint": endpoint}, idempotent=True)

    def stats(self, queue_level: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/queue/{quote(queue_level, safe=':')}/stats", idempotent=True)

    def create_key(self, name: str, role: str, queues: Sequence[str] = ("*",)) -> str:
        """Creates an API key (admin); its secret, which the service shows only here."""
        body = {"name": name, "role": role, "queues": list(queues)}
        return self._json("POST", "/v1/keys", json=body, idempotent=False)["apikey"]


def result_body(task_id: str, result: Result | Mapping[str, Any] | None) -> dict[str, Any]:
    """The complete route's body (spec §3.4's convention) from what a handler returned."""
    if isinstance(result, Result):
        return {"status_code": result.status_code, "request_id": task_id, "body": result.body or {}}
    return {"status_code": 200, "request_id": task_id, "body": dict(result or {})}


BATCH_ITEMS = 100  # the most a batched route takes in one request


def _chunks(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [items[i : i + BATCH_ITEMS] for i in range(0, len(items), BATCH_ITEMS)]


def _item_error(error: Mapping[str, Any]) -> ApiError:
    """A batched route's answer for one item (`{"code", "message"}`) as the typed error."""
    return error_for(int(error["code"]), dict(error))


def _event_item(event: Event | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(event, Event):
        item = {"event": event.event, "data": event.data}
        return item | ({"id": event.id} if event.id is not None else {})
    return dict(event)


def _task_path(task_id: str) -> str:
    return f"/v1/queue/{_segment(task_id)}"


def _segment(value: str) -> str:
    return quote(value, safe="")


def _decoded(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _is_error_body(body: Any, status: int) -> bool:
    """The service's own error body (spec §1), as opposed to a worker's result with that status."""
    return isinstance(body, dict) and body.get("code") == status and "message" in body and "timestamp" in body


__all__ = ["Client", "Conflict", "result_body"]
