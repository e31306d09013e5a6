"""The one package that talks to DynamoDB: every boto3 call, key format and condition
expression. The layout of the tables is in keys.py and docs/design.md.

The ready index is eventually consistent: it only suggests candidates. Every grant and every
state change is a conditional write on the task item itself.
"""

from __future__ import annotations

import os
from typing import Any

from botocore.config import Config
from botocore.loaders import Loader
from botocore.session import get_session

from ..config import TableNames, dynamodb_endpoint, files_bucket
from .apikeys import ApiKeyRecords
from .batches import BatchRecords
from .clears import ClearRecords, QueueGates
from .codec import body_hash
from .console import ConsoleRecords, Redelivery
from .deliveries import Delivery, DeliveryRecords, Failure
from .events import EventRecords
from .files import FileObjects, FileRecords
from .keys import READY_INDEX, SWEEP_INDEX
from .put_batch import NewTask, PutOutcome, TaskBatchPuts
from .queues import QueueRecords
from .stats import COUNTER_FIELDS, StatsRecords
from .tasks import ClaimOutcome, IdempotencyConflict, IdempotencyRecord, Lease, TaskRecords
from .transitions import TaskTransitions
from .uploads import UploadRecords

__all__ = [
    "COUNTER_FIELDS",
    "READY_INDEX",
    "SWEEP_INDEX",
    "ClaimOutcome",
    "Delivery",
    "DynamoStore",
    "Failure",
    "FileObjects",
    "IdempotencyConflict",
    "IdempotencyRecord",
    "Lease",
    "NewTask",
    "PutOutcome",
    "QueueGates",
    "Redelivery",
    "batch_starter_from_env",
    "body_hash",
    "file_objects_from_env",
    "store_from_env",
]


class DynamoStore(
    QueueRecords,
    TaskBatchPuts,
    TaskRecords,
    TaskTransitions,
    ApiKeyRecords,
    StatsRecords,
    DeliveryRecords,
    ClearRecords,
    EventRecords,
    FileRecords,
    UploadRecords,
    BatchRecords,
    ConsoleRecords,
):
    """Data access for the queue service. Methods take `now` (epoch ms) from the caller's clock."""


# The AWS services the functions call.
SERVICES = ("dynamodb", "s3", "lambda")


class _ServicesLoader(Loader):
    """botocore's data loader, told which services exist instead of finding out: to check a
    service's name, its own loader lists every service botocore ships (about 450 directories,
    900 listings and 1,800 file checks), 25-35 ms of a cold request's CPU here."""

    def list_available_services(self, type_name: str) -> list[str]:
        return list(SERVICES)


def _session() -> Any:
    session = get_session()
    data_path = session.get_config_variable("data_path")  # AWS_DATA_PATH, if set
    session.register_component("data_loader", _ServicesLoader(data_path.split(os.pathsep) if data_path else []))
    return session


def store_from_env() -> DynamoStore:
    """The store a function uses: tables and endpoint from its environment.

    The client comes from botocore's session, as `boto3.client` would build it: importing boto3
    would load its resource layer and s3transfer, which the functions never use (a third of a
    cold start; docs/performance.md).
    """
    client = _session().create_client(
        "dynamodb",
        endpoint_url=dynamodb_endpoint(),
        config=Config(retries={"mode": "standard"}, connect_timeout=2, read_timeout=5),
    )
    return DynamoStore(client, TableNames.from_env())


def file_objects_from_env() -> FileObjects:
    """The Batch API's files bucket (FILES_BUCKET); built only by the routes that use it, so no
    other request pays for an S3 client."""
    client = _session().create_client(
        "s3", config=Config(retries={"mode": "standard"}, connect_timeout=2, read_timeout=20)
    )
    return FileObjects(client, files_bucket())


def batch_starter_from_env() -> Any:
    """What starts a batch's runner: an asynchronous invocation of BATCH_FUNCTION in AWS; without
    it (the local server, tests) nothing, and the local background job finds the batch."""
    from ..batches import NoStarter
    from .invoke import LambdaStarter

    name = os.environ.get("BATCH_FUNCTION")
    if not name:
        return NoStarter()
    return LambdaStarter(_session().create_client("lambda", config=Config(retries={"mode": "standard"})), name)
