"""Short, asserting steps through the handler, for tests whose subject is something else."""

from __future__ import annotations

from typing import Any

from apigw import Caller, call

CHAT = "/v1/chat/completions"
CHAT_DATA = {"model": "deepseek-r1-20250401", "messages": [{"role": "user", "content": "Hello"}], "stream": False}


def register(admin: Caller, queue: str, endpoint: str = CHAT) -> None:
    answer = call("POST", "/v1/queue/register", {"queue": queue, "endpoint": endpoint}, admin)
    assert answer.status == 200, answer


def put(producer: Caller, queue: str, level: int = 0, **fields: Any) -> str:
    body = {"queue": queue, "endpoint": CHAT, "level": level, "data": CHAT_DATA} | fields
    answer = call("POST", "/v1/queue/put", body, producer)
    assert answer.status == 200, answer
    return answer.body["data"]


def take(worker: Caller, queues: list[str], size: int, **fields: Any) -> dict[str, list[dict[str, Any]]]:
    answer = call("POST", "/v1/queue/take", {"queues": queues, "size": size} | fields, worker)
    assert answer.status == 200, answer
    return answer.body


def taken_ids(answer: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    return {queue: [t["task_id"] for t in tasks] for queue, tasks in answer.items()}


def complete(worker: Caller, task_id: str, result: dict[str, Any] | None = None, lease_id: str | None = None):
    headers = {"X-Lease-Id": lease_id} if lease_id else None
    return call("POST", f"/v1/queue/{task_id}/complete", result or {"status_code": 200}, worker, headers)


def cancel(caller: Caller, task_id: str):
    return call("POST", f"/v1/queue/{task_id}/cancel", None, caller)


def get(caller: Caller, task_id: str):
    return call("GET", f"/v1/queue/{task_id}", None, caller)


def take_one(worker: Caller, queue: str, **fields: Any) -> dict[str, Any]:
    """Takes exactly one task from level 0 of `queue`."""
    [task] = take(worker, [f"{queue}:0"], 1, **fields)[f"{queue}:0"]
    return task


def lease_call(route: str, caller: Caller, task_id: str, lease_id: str | None, body: Any = None):
    """POST /v1/queue/{task_id}/{route} (heartbeat, retry) with the lease header when given."""
    headers = None if lease_id is None else {"X-Lease-Id": lease_id}
    return call("POST", f"/v1/queue/{task_id}/{route}", body, caller, headers)
