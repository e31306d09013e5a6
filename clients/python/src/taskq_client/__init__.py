"""The Python client and worker library of taskq (issue 13): `Client` for producers and
workers, `Worker` for a pool of handler threads. See docs/client.md."""

from .client import Client
from .context import TaskContext
from .errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServerError,
    TaskError,
    TaskqError,
    TransportError,
    Unauthorized,
)
from .models import Event, Result, Task
from .worker import Worker

__all__ = [
    "ApiError",
    "BadRequest",
    "Client",
    "Conflict",
    "Event",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "Result",
    "ServerError",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskqError",
    "TransportError",
    "Unauthorized",
    "Worker",
]
