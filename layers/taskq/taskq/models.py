"""Domain shapes: the task, queue names and the caller's principal."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_LEVEL = 9
LEVEL = re.compile(r"[0-9]")  # one ASCII digit: "01" or a non-ASCII digit would alias a level


class Status(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({Status.SUCCEEDED, Status.FAILED, Status.TIMEOUT, Status.CANCELLED})


class Strategy(StrEnum):
    FIFO = "fifo"
    ROUND_ROBIN = "round_robin"
    ACTIVE_PASSIVE = "active_passive"
    SEQUENTIAL = "sequential"


class ResponseMode(StrEnum):
    CALLBACK = "callback"
    BLOCKING = "blocking"
    STREAMING = "streaming"
    BATCH = "batch"


class Role(StrEnum):
    PRODUCER = "producer"
    WORKER = "worker"
    ADMIN = "admin"


@dataclass(frozen=True, order=True)
class QueueLevel:
    """A full queue name, `name:level`."""

    name: str
    level: int

    @classmethod
    def parse(cls, text: str) -> QueueLevel:
        """Raises ValueError with a message fit for a 400."""
        name, sep, level = text.rpartition(":")
        if not sep or not QUEUE_NAME.fullmatch(name) or not LEVEL.fullmatch(level):
            raise ValueError(f"{text!r} is not a full queue name 'name:level' (level 0..{MAX_LEVEL})")
        return cls(name, int(level))

    def __str__(self) -> str:
        return f"{self.name}:{self.level}"


MAX_SHARDS = 64  # ready shards per queue-level (docs/design.md "Sharded queue heads")


@dataclass(frozen=True)
class Registration:
    """A queue's registration: its endpoint and, per level, its ready shards (1 unless raised)."""

    queue: str
    endpoint: str
    shards: dict[int, int] = field(default_factory=dict)

    def shards_of(self, level: int) -> int:
        return self.shards.get(level, 1)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the API key's id, its role and the queue-name patterns it may use."""

    ak: str
    role: Role
    queues: tuple[str, ...] = ("*",)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def covers(self, queue_name: str) -> bool:
        return self.is_admin or any(fnmatch.fnmatchcase(queue_name, p) for p in self.queues)


@dataclass
class Task:
    """A task as stored. `to_wire` gives the spec's task object (§2)."""

    task_id: str
    ak: str
    queue: str
    level: int
    endpoint: str
    data: dict[str, Any]
    status: Status
    start_time: int
    expire_time: int
    response_mode: ResponseMode = ResponseMode.CALLBACK
    callback_url: str = ""
    batch_id: str = ""
    trace_id: str = ""
    instance_id: str = ""
    custom_id: str = ""  # a batch task's line (spec §6); "" otherwise
    running_time: int = 0
    completed_time: int = 0
    attempts: int = 0
    lease_id: str = ""
    lease_expire_time: int = 0
    process_timeout: int | None = None
    max_retries: int = 0
    visible_time: int = 0
    holds_lock: bool = False
    result_lease: str = ""
    result: dict[str, Any] | None = field(default=None, compare=False)
    shard: int = 0  # which ready shard of its queue-level the task waits in (store/keys.py)

    @property
    def queue_level(self) -> QueueLevel:
        return QueueLevel(self.queue, self.level)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "ak": self.ak,
            "endpoint": self.endpoint,
            "queue": self.queue,
            "level": self.level,
            "data": self.data,
            "status": self.status.value,
            "task_id": self.task_id,
        }
        if self.level == 0:
            wire["instance_id"] = self.instance_id
        else:
            wire["batch_id"] = self.batch_id
            wire["trace_id"] = self.trace_id
        wire |= {
            "start_time": self.start_time,
            "running_time": self.running_time,
            "expire_time": self.expire_time,
            "completed_time": self.completed_time,
            "callback_url": self.callback_url,
            "response_mode": self.response_mode.value,
            "attempts": self.attempts,
        }
        if self.status is Status.RUNNING:
            wire["lease_id"] = self.lease_id
            wire["lease_expire_time"] = self.lease_expire_time
        if self.custom_id:
            wire["custom_id"] = self.custom_id
        if self.result is not None:
            wire["result"] = self.result
        return wire


@dataclass(frozen=True)
class Candidate:
    """A task the ready index suggests; only a conditional write on the task grants it."""

    task_id: str
    start_time: int
    expire_time: int

    @property
    def order_key(self) -> tuple[int, str]:
        return (self.start_time, self.task_id)


@dataclass(frozen=True)
class WorkerEvent:
    """One event a worker sent for a streaming task (spec §4.3); `seq` is 0 until stored."""

    event: str
    data: Any
    id: str | None = None
    seq: int = 0
