"""Who may do what (spec §3.11). The service calls these before touching any task or queue."""

from __future__ import annotations

from .errors import Forbidden, TaskNotFound
from .models import Principal, Role, Task

PRODUCERS = frozenset({Role.PRODUCER, Role.ADMIN})
WORKERS = frozenset({Role.WORKER, Role.ADMIN})
ANY_ROLE = frozenset(Role)


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


def visible(principal: Principal, task: Task | None, task_id: str) -> Task:
    """The task, or 404 — the same answer whether it does not exist or is someone else's."""
    if task is None or not can_see(principal, task):
        raise TaskNotFound(task_id)
    return task


def require_owner(principal: Principal, task: Task, action: str) -> None:
    if not (principal.is_admin or (principal.role is Role.PRODUCER and task.ak == principal.ak)):
        raise Forbidden(f"{action} is for the producer that put the task, or an admin")
