"""Who may do what (spec §3.11). The service calls these before touching any task or queue."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import Forbidden, TaskNotFound, Unauthorized
from .http_errors import UNAUTHORIZED_MESSAGE
from .models import Principal, Role, Task

PRODUCERS = frozenset({Role.PRODUCER, Role.ADMIN})
WORKERS = frozenset({Role.WORKER, Role.ADMIN})
ANY_ROLE = frozenset(Role)


def principal_from_authorizer(context: Mapping[str, Any] | None) -> Principal:
    """The principal the API Gateway authorizer established (its context: `ak`, `role` and
    `queues` as JSON text, since authorizer contexts carry only strings, numbers and booleans).
    Fails closed: a context without queue patterns is no principal at all."""
    context = context or {}
    try:
        queues = json.loads(context["queues"])
        if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
            raise TypeError("queues must be a list of patterns")
        return Principal(ak=context["ak"], role=Role(context["role"]), queues=tuple(queues))
    except (KeyError, ValueError, TypeError) as e:
        raise Unauthorized(UNAUTHORIZED_MESSAGE) from e


def require_admin(principal: Principal, action: str) -> None:
    if not principal.is_admin:
        raise Forbidden(f"{action} needs an admin key")


def require_role(principal: Principal, roles: frozenset[Role], action: str) -> None:
    if principal.role not in roles:
        raise Forbidden(f"{action} needs a {' or '.join(sorted(r.value for r in roles))} key")


def require_queue(principal: Principal, queue: str, roles: frozenset[Role], action: str) -> None:
    """403 unless the key has one of `roles` and its patterns cover `queue`."""
    require_role(principal, roles, action)
    if not principal.covers(queue):
        raise Forbidden(f"queue: {queue!r} is outside this key's queues")


def can_see(principal: Principal, task: Task) -> bool:
    if principal.is_admin:
        return True
    if principal.role is Role.PRODUCER:
        return task.ak == principal.ak
    return principal.covers(task.queue)


def owner_filter(principal: Principal) -> str | None:
    """Whose files and batches a key sees: its own (its `ak`), or everyone's for an admin (None)."""
    return None if principal.is_admin else principal.ak


def owns(principal: Principal, owner_ak: str) -> bool:
    """Whether a key may see a file or a batch `owner_ak` created."""
    return owner_filter(principal) in (None, owner_ak)


def visible(principal: Principal, task: Task | None, task_id: str) -> Task:
    """The task, or 404 — the same answer whether it does not exist or is someone else's."""
    if task is None or not can_see(principal, task):
        raise TaskNotFound(task_id)
    return task


def require_owner(principal: Principal, task: Task, action: str) -> None:
    if not (principal.is_admin or (principal.role is Role.PRODUCER and task.ak == principal.ak)):
        raise Forbidden(f"{action} is for the producer that put the task, or an admin")


# At most this many patterns go into a write's condition (DynamoDB caps an expression at 4 KB).
MAX_SCOPE_PATTERNS = 16
_WILDCARDS = frozenset("*?[")


@dataclass(frozen=True)
class QueueScope:
    """The queues a key covers, in a form a DynamoDB condition can check: exact names and name
    prefixes (`chat-*`). `everything` for an admin or a `*` pattern."""

    names: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    everything: bool = False


def queue_scope(principal: Principal) -> QueueScope | None:
    """The principal's coverage as a condition can check it, or None when a pattern says more
    than a name or a prefix (`a?c`, `[ab]*`): the caller must then read the task and use `covers`."""
    if principal.is_admin or "*" in principal.queues:
        return QueueScope(everything=True)
    if len(principal.queues) > MAX_SCOPE_PATTERNS:
        return None
    names, prefixes = [], []
    for pattern in principal.queues:
        if not _WILDCARDS & set(pattern):
            names.append(pattern)
        elif pattern.endswith("*") and not _WILDCARDS & set(pattern[:-1]):
            prefixes.append(pattern[:-1])
        else:
            return None
    if not names and not prefixes:
        return None  # a key without patterns covers nothing: the read answers 404
    return QueueScope(tuple(names), tuple(prefixes))
