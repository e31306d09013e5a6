"""Typed domain errors. Each carries its HTTP status; the API maps them to responses in one place."""

from __future__ import annotations


class TaskqError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(TaskqError):
    status = 400


class Unauthorized(TaskqError):
    status = 401


class Forbidden(TaskqError):
    status = 403


class NotFound(TaskqError):
    status = 404


class TaskNotFound(NotFound):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"task_id: no task {task_id!r}")


class QueueNotFound(NotFound):
    def __init__(self, queue: str) -> None:
        super().__init__(f"queue: {queue!r} is not registered")


class Conflict(TaskqError):
    status = 409


class LeaseConflict(Conflict):
    """The caller's X-Lease-Id is not the task's current lease."""


class StateConflict(Conflict):
    """The task is not in a status that allows the operation."""


class PayloadTooLarge(TaskqError):
    status = 413


class UnsupportedMediaType(TaskqError):
    status = 415


class NotImplementedYet(TaskqError):
    status = 501
