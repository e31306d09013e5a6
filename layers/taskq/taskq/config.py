"""Settings read from the environment, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class TableNames:
    tasks: str
    control: str
    results: str
    events: str = ""  # worker events of streaming tasks; only the functions that use them name it

    @classmethod
    def from_env(cls) -> TableNames:
        return cls(
            tasks=os.environ["TASKS_TABLE"],
            control=os.environ["CONTROL_TABLE"],
            results=os.environ["RESULTS_TABLE"],
            events=os.environ.get("EVENTS_TABLE", ""),
        )

    def by_logical_id(self) -> dict[str, str]:
        """Table names by their logical id in template.yaml (what `create_tables` takes)."""
        return {
            "TasksTable": self.tasks,
            "ControlTable": self.control,
            "ResultsTable": self.results,
            "EventsTable": self.events,
        }


def dynamodb_endpoint() -> str | None:
    """An external DynamoDB-compatible endpoint (local server, dynalite); None means AWS."""
    return os.environ.get("DYNAMODB_ENDPOINT") or None


def retention_seconds() -> int:
    """How long finished tasks and their results are kept before DynamoDB TTL removes them."""
    return int(os.environ.get("TASKQ_RETENTION_DAYS", "7")) * 86_400


def files_bucket() -> str:
    """The S3 bucket of the Batch API's files (the stack's FilesBucket; locally the embedded store's)."""
    return os.environ["FILES_BUCKET"]


def file_retention_seconds() -> int:
    """How long a Batch API file is kept: its record (DynamoDB TTL) as its object (the bucket's
    lifecycle, FileRetentionDays in template.yaml). Longer than a task's retention, so a file
    outlives every batch that reads or writes it."""
    return int(os.environ.get("TASKQ_FILE_RETENTION_DAYS", "37")) * 86_400


def multipart_part_bytes() -> int:
    """Files larger than this (batch outputs) are written with S3 multipart in parts of this
    size (TASKQ_MULTIPART_PART_BYTES, default 8 MiB; S3 needs at least 5 MiB but the last)."""
    return int(os.environ.get("TASKQ_MULTIPART_PART_BYTES", str(8 * 1024 * 1024)))
