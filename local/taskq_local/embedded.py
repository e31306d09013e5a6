"""The DynamoDB the local server runs on: moto in-process (the default) or, with
DYNAMODB_ENDPOINT, an external DynamoDB-compatible endpoint. Either way the template's tables
exist before the first request, and the handler finds them through the same environment
variables it reads in AWS."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.exceptions import ClientError

from .template import table_definitions

logger = logging.getLogger("taskq_local")

# Logical id in template.yaml -> (environment variable the functions read, local default name).
TABLES = {
    "TasksTable": ("TASKS_TABLE", "taskq-tasks"),
    "ControlTable": ("CONTROL_TABLE", "taskq-control"),
    "ResultsTable": ("RESULTS_TABLE", "taskq-results"),
    "EventsTable": ("EVENTS_TABLE", "taskq-events"),
}

DEFAULT_DATA_DIR = ".taskq"
# The Batch API's files: moto's S3 in the same process (FILES_BUCKET in template.yaml), kept in
# the data folder like the tables (objects.py).
FILES_BUCKET = "taskq-files"

# Serializes every request moto serves in this process (see make_moto_atomic).
STORE_LOCK = threading.RLock()


class Recorder(Protocol):
    """Writes down what changed the embedded store (durable.DurableStore)."""

    def record_request(self, operation: str, request: Any) -> None: ...

    def record_consumed(self, table_name: str, through_sequence: str) -> None: ...


_recorder: Recorder | None = None


def install_recorder(recorder: Recorder | None) -> None:
    global _recorder
    _recorder = recorder


# Told of each committed write (operation, request body) once the store lock is released: the
# change signal for waits (changes.py).
WriteListener = Callable[[str, Any], None]
_write_listener: WriteListener | None = None


def install_write_listener(listener: WriteListener | None) -> None:
    global _write_listener
    _write_listener = listener


@dataclass(frozen=True)
class Database:
    description: str  # for the start-up banner
    table_names: dict[str, str]  # logical id -> table name


def configure_environment(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Sets what the functions read in AWS (table names, region, credentials) unless already set;
    returns logical id -> table name. Fake credentials keep a stray call away from real AWS."""
    defaults = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "POWERTOOLS_SERVICE_NAME": "taskq-local",
    }
    for name, value in defaults.items():
        environ.setdefault(name, value)
    environ.setdefault("FILES_BUCKET", FILES_BUCKET)
    names = {}
    for logical_id, (variable, default) in TABLES.items():
        names[logical_id] = environ.setdefault(variable, default)
    return names


def ensure_tables(client: Any, names: dict[str, str]) -> list[str]:
    """Creates the template's tables that do not exist yet; returns the names it created."""
    existing: set[str] = set()
    for page in client.get_paginator("list_tables").paginate():
        existing.update(page["TableNames"])
    created = []
    for logical_id, definition in table_definitions().items():
        name = names[logical_id]
        if name in existing:
            continue
        try:
            client.create_table(TableName=name, **definition)
        except ClientError as e:  # another process created it in the meantime
            if e.response["Error"]["Code"] != "ResourceInUseException":
                raise
        created.append(name)
    for name in created:
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return created


def make_moto_atomic() -> None:
    """moto's backends are not built for concurrent access: a conditional write reads, checks and
    writes in separate steps, so two threads could both pass one condition. DynamoDB makes each
    call atomic; one lock around each request moto serves does the same here. The lock wraps
    moto's botocore hook, through which every boto3 client in this process reaches moto, so
    clients created later by any code (the API function, the authorizer, the sweeper) are
    covered without knowing about it. Under the same lock, a successful write is recorded (when
    the store is durable) before its answer leaves. A cancelled transaction puts back only the
    items it named (moto_state.transactions_roll_back_their_items). Queries read moto_index's
    sorted partitions, not every item. After the lock, before the
    answer leaves, the write listener hears of it (changes.py)."""
    from moto.core.models import botocore_stubber

    from .moto_index import index_queries
    from .moto_state import operation_of, transactions_roll_back_their_items

    transactions_roll_back_their_items()
    index_queries()
    serve = botocore_stubber.process_request
    if getattr(serve, "taskq_atomic", False):
        return

    def serve_atomically(request: Any) -> Any:
        operation = operation_of(request)
        with STORE_LOCK:
            answer = serve(request)
            committed = answer is not None and answer[0] == 200
            if _recorder is not None and committed:
                _recorder.record_request(operation, request)
        if committed and _write_listener is not None:
            try:
                _write_listener(operation, request.body)
            except Exception:  # the write stands; a wait not woken polls on its safety net
                logger.exception("the write listener failed on %s", operation)
        return answer

    serve_atomically.taskq_atomic = True  # type: ignore[attr-defined]
    botocore_stubber.process_request = serve_atomically  # type: ignore[method-assign]


def stream_consumed(table_name: str, through_sequence: str) -> None:
    """The stream feed's on_consumed hook: the records are handled, so they go (as DynamoDB
    trims after 24 h; moto would keep them all), and a durable store writes down how far."""
    from .moto_state import trim_moto_stream

    with STORE_LOCK:
        trim_moto_stream(table_name, through_sequence)
        if _recorder is not None:
            _recorder.record_consumed(table_name, through_sequence)


def data_folder(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where the embedded store keeps its state: TASKQ_DATA_DIR, default `.taskq` in the working
    directory; None (in memory only) when it is set empty (`taskq serve --ephemeral`)."""
    value = environ.get("TASKQ_DATA_DIR", DEFAULT_DATA_DIR)
    return Path(value).resolve() if value else None


def start_database(environ: MutableMapping[str, str] = os.environ) -> Database:
    """Starts the embedded store (or connects to DYNAMODB_ENDPOINT) and creates missing tables;
    a durable embedded store then replays its data folder (durable.py).

    The embedded store lives as long as the process: it is never stopped, so a request still
    running while the server shuts down can never fall through to real AWS. Raises
    journal.DataDirError when the data folder is in use or damaged."""
    names = configure_environment(environ)
    endpoint = environ.get("DYNAMODB_ENDPOINT") or None
    if endpoint is None:
        from moto import mock_aws  # only the embedded mode needs moto

        from .changes import signal_changes
        from .moto_state import deterministic_event_ids

        mock_aws().start()
        make_moto_atomic()
        deterministic_event_ids()
        boto3.client("s3", region_name=environ["AWS_DEFAULT_REGION"]).create_bucket(Bucket=environ["FILES_BUCKET"])
        signal_changes([names["TasksTable"], names["EventsTable"]])
        description = "embedded (moto, in-process)"
    else:
        description = endpoint
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=environ["AWS_DEFAULT_REGION"])
    ensure_tables(client, names)
    folder = data_folder(environ)
    if endpoint is None and folder is not None:
        from .durable import DEFAULT_COMPACT_BYTES, DurableStore
        from .objects import DurableObjects

        store = DurableStore(folder, int(environ.get("TASKQ_COMPACT_BYTES") or DEFAULT_COMPACT_BYTES))
        store.open()
        install_recorder(store)
        DurableObjects(folder).open()  # under the folder's lock, which the DurableStore holds
        description += f", state in {folder}"
    elif endpoint is None:
        description += ", in memory only"
    return Database(description=description, table_names=names)
