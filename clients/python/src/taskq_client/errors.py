"""Typed errors: the service's error JSON as exceptions, and the one a handler raises on purpose."""

from __future__ import annotations

from typing import Any


class TaskqError(Exception):
    """Base of every error this library raises about the service."""


class ApiError(TaskqError):
    """A non-2xx answer: the HTTP status and the service's `message` (spec §1's error body)."""

    status: int = 0

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status, self.message, self.body = status, message, body


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    """409: a stale lease (fenced), a task in the wrong status, an idempotency key reused with another body."""


class PayloadTooLarge(ApiError):
    pass


class ServerError(ApiError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
}


def error_for(status: int, body: Any) -> ApiError:
    """The exception for an error answer; the message from its JSON body when it has one."""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        message = body if isinstance(body, str) and body else f"HTTP {status}"
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return kind(status, message, body)


class TransportError(TaskqError):
    """The service could not be reached, or the connection broke, after the retries allowed."""


class TaskError(Exception):
    """Raised by a handler to finish its task with this status code.

    `retry=True` gives the task back through the retry route (like any other exception);
    `retry=False` fails it at once with `{"status_code", "message", "body"}` as its result."""

    def __init__(self, status_code: int = 500, message: str = "", *, retry: bool = False, body: Any = None) -> None:
        super().__init__(message or f"task failed with {status_code}")
        self.status_code, self.message, self.retry, self.body = status_code, message, retry, body
