"""The task as the service returns it, a handler's result, and a streamed event."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass

FINAL_STATUSES = frozenset({"succeeded", "failed", "timeout", "cancelled"})


class Task(BaseModel):
    """Spec §2. Fields the service adds later are kept (extra="allow"), not refused."""

    model_config = ConfigDict(extra="allow")

    task_id: str
    status: str
    queue: str = ""
    level: int = 0
    endpoint: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    ak: str = ""
    response_mode: str = "callback"
    callback_url: str = ""
    start_time: int = 0
    running_time: int = 0
    expire_time: int = 0
    completed_time: int = 0
    attempts: int = 0
    lease_id: str | None = None
    lease_expire_time: int | None = None
    result: dict[str, Any] | None = None
    batch_id: str | None = None
    trace_id: str | None = None
    instance_id: str | None = None
    custom_id: str | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass
class Result:
    """A result: what a blocking put answers, or what a handler returns to choose its status code."""

    status_code: int = 200
    body: Any = None


@dataclass
class Event:
    """One Server-Sent Event of a streaming task: `id` is the service's sequence number."""

    id: str | None = None
    event: str = "message"
    data: Any = None
