"""What routes receive through powertools' Depends: the service and the caller's principal.

Tests swap either through `app.dependency_overrides`.
"""

from __future__ import annotations

import json
from functools import cache

from aws_lambda_powertools.event_handler import Request

from taskq.clock import SystemClock
from taskq.console import ConsoleService
from taskq.errors import Unauthorized
from taskq.ids import new_instance_id
from taskq.keys import KeyService
from taskq.models import Principal, Role
from taskq.observability import PowertoolsTelemetry
from taskq.service import QueueService
from taskq.store import DynamoStore, store_from_env

from .errors import UNAUTHORIZED_MESSAGE

# Level-0 tasks name the API instance that accepted them (for phase 2's blocking mode).
INSTANCE_ID = new_instance_id()


@cache
def get_store() -> DynamoStore:
    """Built once per execution environment, on first use, and reused across invocations."""
    return store_from_env()


@cache
def get_service() -> QueueService:
    return QueueService(get_store(), SystemClock(), instance_id=INSTANCE_ID, telemetry=PowertoolsTelemetry())


@cache
def get_console_service() -> ConsoleService:
    return ConsoleService(get_store(), SystemClock())


@cache
def get_key_service() -> KeyService:
    return KeyService(get_store(), SystemClock())


def get_principal(request: Request) -> Principal:
    """The principal the authorizer established, from the request context (never from headers)."""
    context = request.resolved_event.request_context.authorizer.raw_event or {}
    try:
        # Fails closed: a context without queue patterns is no principal at all.
        queues = json.loads(context["queues"])
        if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
            raise TypeError("queues must be a list of patterns")
        return Principal(ak=context["ak"], role=Role(context["role"]), queues=tuple(queues))
    except (KeyError, ValueError, TypeError) as e:
        raise Unauthorized(UNAUTHORIZED_MESSAGE) from e
