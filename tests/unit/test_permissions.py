"""Who may do what (spec §2 "Not yours -> 404", §3.1-3.6, §3.11), table-driven.

Every key below is limited to `deepseek-*`; the admin's patterns deliberately cover nothing,
because an admin does everything whatever its patterns say.
"""

import pytest

from taskq import permissions
from taskq.errors import Forbidden, TaskNotFound
from taskq.models import Principal, Role, Status, Task
from taskq.permissions import QueueScope, queue_scope

PRODUCER = Principal("ak-producer", Role.PRODUCER, ("deepseek-*",))
OTHER_PRODUCER = Principal("ak-other", Role.PRODUCER, ("deepseek-*",))
WORKER = Principal("ak-worker", Role.WORKER, ("deepseek-*",))
ADMIN = Principal("ak-admin", Role.ADMIN, ("nothing-matches-*",))

COVERED, UNCOVERED = "deepseek-chat", "gpt-chat"
ALLOWED = "allowed"

# The role sets the service passes for each queue-addressed action.
ACTION_ROLES = {"put": permissions.PRODUCERS, "take": permissions.WORKERS, "metadata": permissions.ANY_ROLE}


def outcome(check, *args):
    try:
        check(*args)
    except (Forbidden, TaskNotFound) as error:
        return type(error)
    return ALLOWED


@pytest.mark.parametrize(
    ("principal", "action", "queue", "expected"),
    [
        (PRODUCER, "put", COVERED, ALLOWED),
        (PRODUCER, "put", UNCOVERED, Forbidden),
        (PRODUCER, "take", COVERED, Forbidden),
        (PRODUCER, "metadata", COVERED, ALLOWED),
        (PRODUCER, "metadata", UNCOVERED, Forbidden),
        (WORKER, "put", COVERED, Forbidden),
        (WORKER, "take", COVERED, ALLOWED),
        (WORKER, "take", UNCOVERED, Forbidden),
        (WORKER, "metadata", COVERED, ALLOWED),
        (WORKER, "metadata", UNCOVERED, Forbidden),
        (ADMIN, "put", UNCOVERED, ALLOWED),
        (ADMIN, "take", UNCOVERED, ALLOWED),
        (ADMIN, "metadata", UNCOVERED, ALLOWED),
    ],
)
def test_require_queue(principal, action, queue, expected):
    assert outcome(permissions.require_queue, principal, queue, ACTION_ROLES[action], action) is expected


def test_forbidden_queue_message_names_the_queue():
    with pytest.raises(Forbidden, match=UNCOVERED) as info:
        permissions.require_queue(WORKER, UNCOVERED, permissions.WORKERS, "take")
    assert info.value.status == 403


def test_wrong_role_message_names_the_action():
    with pytest.raises(Forbidden, match="take"):
        permissions.require_queue(PRODUCER, COVERED, permissions.WORKERS, "take")


@pytest.mark.parametrize(("principal", "expected"), [(ADMIN, ALLOWED), (WORKER, Forbidden), (PRODUCER, Forbidden)])
def test_require_admin(principal, expected):
    assert outcome(permissions.require_admin, principal, "register") is expected


# --- reading a task: visible() answers 404 for "not yours", exactly as for "unknown" --------------


def task(ak: str = "ak-producer", queue: str = COVERED) -> Task:
    return Task("TASK-1", ak, queue, 0, "/v1/chat/completions", {}, Status.WAITING, 1, 2)


OWN_TASK = task()
OWN_TASK_ELSEWHERE = task(queue=UNCOVERED)  # the producer's own task in a queue its key no longer covers
OTHERS_TASK = task(ak="ak-other")
OTHERS_TASK_ELSEWHERE = task(ak="ak-other", queue=UNCOVERED)


@pytest.mark.parametrize(
    ("principal", "the_task", "expected"),
    [
        (PRODUCER, OWN_TASK, ALLOWED),
        (PRODUCER, OWN_TASK_ELSEWHERE, ALLOWED),
        (PRODUCER, OTHERS_TASK, TaskNotFound),
        (PRODUCER, OTHERS_TASK_ELSEWHERE, TaskNotFound),
        (PRODUCER, None, TaskNotFound),
        (WORKER, OWN_TASK, ALLOWED),
        (WORKER, OTHERS_TASK, ALLOWED),
        (WORKER, OWN_TASK_ELSEWHERE, TaskNotFound),
        (WORKER, None, TaskNotFound),
        (ADMIN, OTHERS_TASK_ELSEWHERE, ALLOWED),
        (ADMIN, None, TaskNotFound),
    ],
)
def test_visible(principal, the_task, expected):
    assert outcome(permissions.visible, principal, the_task, "TASK-1") is expected
    if the_task is not None:
        assert permissions.can_see(principal, the_task) is (expected is ALLOWED)


def test_visible_returns_the_task():
    assert permissions.visible(PRODUCER, OWN_TASK, "TASK-1") is OWN_TASK


def test_not_yours_is_indistinguishable_from_unknown():
    def answer(the_task):
        with pytest.raises(TaskNotFound) as info:
            permissions.visible(PRODUCER, the_task, "TASK-1")
        return info.value.status, info.value.message

    status, message = answer(None)
    assert answer(OTHERS_TASK) == (status, message)
    assert status == 404
    assert "TASK-1" in message


# --- cancelling: only the producer that put it, or an admin ---------------------------------------


@pytest.mark.parametrize(
    ("principal", "the_task", "expected"),
    [
        (PRODUCER, OWN_TASK, ALLOWED),
        (PRODUCER, OWN_TASK_ELSEWHERE, ALLOWED),
        (OTHER_PRODUCER, OWN_TASK, Forbidden),
        (WORKER, OWN_TASK, Forbidden),
        (WORKER, task(ak="ak-worker"), Forbidden),  # same key id, but a worker never owns a task
        (ADMIN, OWN_TASK, ALLOWED),
    ],
)
def test_require_owner(principal, the_task, expected):
    assert outcome(permissions.require_owner, principal, the_task, "cancel") is expected


# --- queue_scope: a key's queues as a complete's condition checks them (issue 16) -----------

NAMES = ["chat", "chat-eu", "chatter", "embed", "c", "x[1]"]


def in_scope(scope: QueueScope, queue: str) -> bool:
    """What the store's condition checks: `queue = :name OR begins_with(queue, :prefix) ...`."""
    return scope.everything or queue in scope.names or any(queue.startswith(p) for p in scope.prefixes)


@pytest.mark.parametrize(
    "patterns", [("*",), ("chat",), ("chat*",), ("chat-*", "embed"), ("c", "emb*", "x"), ("chat", "*")]
)
def test_a_scope_covers_exactly_the_queues_the_patterns_cover(patterns: tuple[str, ...]) -> None:
    principal = Principal("ak-w", Role.WORKER, patterns)
    scope = queue_scope(principal)

    assert scope is not None
    assert [in_scope(scope, q) for q in NAMES] == [principal.covers(q) for q in NAMES]


@pytest.mark.parametrize("patterns", [("ch?t",), ("[ab]*",), ("*-eu",), ("a*b*",), ()])
def test_patterns_a_condition_cannot_check_have_no_scope(patterns: tuple[str, ...]) -> None:
    assert queue_scope(Principal("ak-w", Role.WORKER, patterns)) is None


def test_an_admin_covers_every_queue_whatever_its_patterns() -> None:
    assert queue_scope(Principal("ak-a", Role.ADMIN, ("chat",))) == QueueScope(everything=True)
