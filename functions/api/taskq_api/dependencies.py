"""What routes receive through powertools' Depends: the service and the caller's principal.

Tests swap either through `app.dependency_overrides`.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.event_handler import Request

from taskq.batches import BatchService
from taskq.clock import SystemClock
from taskq.console import ConsoleService
from taskq.files import FileService
from taskq.ids import new_instance_id
from taskq.keys import KeyService
from taskq.models import Principal
from taskq.observability import PowertoolsTelemetry
from taskq.permissions import principal_from_authorizer
from taskq.service import QueueService
from taskq.store import DynamoStore, batch_starter_from_env, file_objects_from_env, store_from_env
from taskq.uploads import UploadService

# A take sends a sharded queue's shard Queries concurrently, on up to this many threads (boto3
# clients are thread-safe; botocore's pool holds 10 connections).
SHARD_QUERY_WORKERS = 8
# Level-0 tasks name the API instance that accepted them (for phase 2's blocking mode).
INSTANCE_ID = new_instance_id()


@cache
def get_store() -> DynamoStore:
    """Built once per execution environment, on first use, and reused across invocations."""
    return store_from_env()


@cache
def get_service() -> QueueService:
    return QueueService(
        get_store(),
        SystemClock(),
        instance_id=INSTANCE_ID,
        telemetry=PowertoolsTelemetry(),
        shard_query_workers=SHARD_QUERY_WORKERS,
    )


@cache
def get_console_service() -> ConsoleService:
    return ConsoleService(get_store(), SystemClock())


@cache
def get_key_service() -> KeyService:
    return KeyService(get_store(), SystemClock())


@cache
def get_file_service() -> FileService:
    return FileService(get_store(), file_objects_from_env(), SystemClock())


@cache
def get_upload_service() -> UploadService:
    return UploadService(get_store(), file_objects_from_env(), SystemClock())


@cache
def get_batch_service() -> BatchService:
    return BatchService(get_store(), get_file_service(), SystemClock(), batch_starter_from_env())


def get_principal(request: Request) -> Principal:
    """The principal the authorizer established, from the request context (never from headers)."""
    return principal_from_authorizer(request.resolved_event.request_context.authorizer.raw_event)
