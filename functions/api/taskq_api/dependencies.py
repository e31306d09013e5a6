"""What routes receive through powertools' Depends: the service and the caller's principal.

Tests swap either through `app.dependency_overrides`.

Only the queue service is imported with the function: the console, keys, files, uploads and
batch services (and the S3 and Lambda clients behind the last two) are imported and built by the
first request of a route that uses them, so a take or a complete never loads them (cold start,
docs/performance.md). So the route parameters below name those types for type checkers only:
powertools reads only the `Depends`.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler import Request
from aws_lambda_powertools.event_handler.depends import Depends

from taskq.clock import SystemClock
from taskq.ids import new_instance_id
from taskq.models import Principal
from taskq.observability import PowertoolsTelemetry
from taskq.permissions import principal_from_authorizer
from taskq.service import QueueService
from taskq.store import DynamoStore, store_from_env

if TYPE_CHECKING:
    from taskq.batches import BatchService
    from taskq.console import ConsoleService
    from taskq.files import FileService
    from taskq.keys import KeyService
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
    from taskq.console import ConsoleService

    return ConsoleService(get_store(), SystemClock())


@cache
def get_key_service() -> KeyService:
    from taskq.keys import KeyService

    return KeyService(get_store(), SystemClock())


@cache
def get_file_service() -> FileService:
    from taskq.files import FileService
    from taskq.store import file_objects_from_env

    return FileService(get_store(), file_objects_from_env(), SystemClock())


@cache
def get_upload_service() -> UploadService:
    from taskq.store import file_objects_from_env
    from taskq.uploads import UploadService

    return UploadService(get_store(), file_objects_from_env(), SystemClock())


@cache
def get_batch_service() -> BatchService:
    from taskq.batches import BatchService
    from taskq.store import batch_starter_from_env

    return BatchService(get_store(), get_file_service(), SystemClock(), batch_starter_from_env())


if TYPE_CHECKING:
    Console = Annotated[ConsoleService, Depends(get_console_service)]
    Keys = Annotated[KeyService, Depends(get_key_service)]
    Files = Annotated[FileService, Depends(get_file_service)]
    Batches = Annotated[BatchService, Depends(get_batch_service)]
    Uploads = Annotated[UploadService, Depends(get_upload_service)]
else:
    Console = Annotated[object, Depends(get_console_service)]
    Keys = Annotated[object, Depends(get_key_service)]
    Files = Annotated[object, Depends(get_file_service)]
    Batches = Annotated[object, Depends(get_batch_service)]
    Uploads = Annotated[object, Depends(get_upload_service)]


def get_principal(request: Request) -> Principal:
    """The principal the authorizer established, from the request context (never from headers)."""
    return principal_from_authorizer(request.resolved_event.request_context.authorizer.raw_event)
