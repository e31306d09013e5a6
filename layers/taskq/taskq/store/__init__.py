"""The one package that talks to DynamoDB: every boto3 call, key format and condition
expression. The layout of the tables is in keys.py and docs/design.md.

The ready index is eventually consistent: it only suggests candidates. Every grant and every
state change is a conditional write on the task item itself.
"""

from __future__ import annotations

from botocore.config import Config
from botocore.session import get_session

from ..config import TableNames, dynamodb_endpoint
from .apikeys import ApiKeyRecords
from .clears import ClearRecords, QueueGates
from .codec import body_hash
from .deliveries import Delivery, DeliveryRecords, Failure
from .events import EventRecords
from .keys import READY_INDEX, SWEEP_INDEX
from .queues import QueueRecords
from .stats import COUNTER_FIELDS, StatsRecords
from .tasks import ClaimOutcome, IdempotencyConflict, IdempotencyRecord, Lease, TaskRecords
from .transitions import TaskTransitions

__all__ = [
    "COUNTER_FIELDS",
    "READY_INDEX",
    "SWEEP_INDEX",
    "ClaimOutcome",
    "Delivery",
    "DynamoStore",
    "Failure",
    "IdempotencyConflict",
    "IdempotencyRecord",
    "Lease",
    "QueueGates",
    "body_hash",
    "store_from_env",
]


class DynamoStore(
    QueueRecords,
    TaskRecords,
    TaskTransitions,
    ApiKeyRecords,
    StatsRecords,
    DeliveryRecords,
    ClearRecords,
    EventRecords,
):
    """Data access for the queue service. Methods take `now` (epoch ms) from the caller's clock."""


def store_from_env() -> DynamoStore:
    """The store a function uses: tables and endpoint from its environment.

    The client comes from botocore's session, as `boto3.client` would build it: importing boto3
    would load its resource layer and s3transfer, which the functions never use (a third of a
    cold start; docs/performance.md).
    """
    client = get_session().create_client(
        "dynamodb",
        endpoint_url=dynamodb_endpoint(),
        config=Config(retries={"mode": "standard"}, connect_timeout=2, read_timeout=5),
    )
    return DynamoStore(client, TableNames.from_env())
