"""Key formats and index names: the layout of the three tables (see docs/design.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from ..models import QueueLevel, Status, Task
from .codec import to_item

READY_INDEX = "ReadyByQueue"  # waiting tasks by `ready_queue` ("name:level[#k]"), oldest first
SWEEP_INDEX = "SweepDue"  # unfinished tasks by `sweep_shard`, ordered by `sweep_at`
# The sweep index is spread over this many partitions so no single one is hot; new tasks are
# written to one of them. A task keeps the shard it was put with, so the sweeper reads every
# shard any release may still have items in: SWEEP_SHARDS_READ (docs/design.md "Sweep shards").
SWEEP_SHARDS = 32  # 8 until issue 14: 32 x 1,000 writes/s / 4 per task = ~8,000 tasks/s service-wide
# The counts earlier releases wrote with. Raising SWEEP_SHARDS: put the old count here first, so
# the sweeper reads 0..max(old, new) - 1 and old items are still found. Lowering it: keep the old
# count here until every task put before has finished or expired (the longest timeout, 7 days).
SWEEP_SHARDS_WRITTEN_BEFORE: tuple[int, ...] = (8,)
SWEEP_SHARDS_READ = max((SWEEP_SHARDS, *SWEEP_SHARDS_WRITTEN_BEFORE))


def _hash(task_id: str, digits: slice) -> int:
    return int(hashlib.sha256(task_id.encode()).hexdigest()[digits], 16)


def sweep_shard(task_id: str, shards: int = SWEEP_SHARDS) -> str:
    return str(_hash(task_id, slice(0, 8)) % shards)


def ready_shard(task_id: str, shards: int) -> int:
    """The ready shard a new task of a queue-level with `shards` shards waits in (ids are
    random, so shards fill evenly). Other digits than the sweep shard's: the two spreads are
    independent."""
    return _hash(task_id, slice(8, 16)) % shards if shards > 1 else 0


def ready_key(queue: QueueLevel, shard: int = 0) -> str:
    """The `ready_queue` value of a shard: shard 0 is the queue-level's name as before
    sharding (`name:level`), so a queue with one shard is laid out as it always was."""
    return str(queue) if shard == 0 else f"{queue}#{shard}"


def task_key(task_id: str) -> dict[str, Any]:
    return to_item({"task_id": task_id})


def result_key(task_id: str, lease_id: str) -> dict[str, Any]:
    return to_item({"task_id": task_id, "lease_id": lease_id})


def queue_key(name: str) -> dict[str, Any]:
    return to_item({"pk": f"QUEUE#{name}", "sk": "QUEUE"})


def shards_attribute(level: int) -> str:
    """The registration's attribute holding a level's ready shard count (absent: 1)."""
    return f"shards_{level}"


def lock_key(queue: QueueLevel) -> dict[str, Any]:
    return to_item({"pk": f"LOCK#{queue}", "sk": "LOCK"})


def cursor_key(queues: Sequence[QueueLevel]) -> dict[str, Any]:
    digest = hashlib.sha256(",".join(map(str, queues)).encode()).hexdigest()
    return to_item({"pk": f"CURSOR#{digest}", "sk": "CURSOR"})


def idempotency_key(scope: str, key: str) -> dict[str, Any]:
    return to_item({"pk": f"IDEMPOTENCY#{scope}", "sk": key})


def api_key_lookup_key(key_hash: str) -> dict[str, Any]:
    return to_item({"pk": f"APIKEY#{key_hash}", "sk": "APIKEY"})


def api_key_listing_key(ak: str) -> dict[str, Any]:
    # All listing items share one partition: keys are few and listed only by admins.
    return to_item({"pk": "APIKEYS", "sk": ak})


def index_attributes(task: Task) -> dict[str, Any]:
    """The sparse index keys that follow from the task's status: a waiting task is in the
    ready index; an unfinished one is in the sweep index, due at its expiry or lease end."""
    values: dict[str, Any] = {}
    if task.status is Status.WAITING:
        values |= {"ready_queue": ready_key(task.queue_level, task.shard), "sweep_at": task.expire_time}
    elif task.status is Status.RUNNING:
        values["sweep_at"] = task.lease_expire_time
    if not task.status.is_final:
        values["sweep_shard"] = sweep_shard(task.task_id)
    return values


# --- results and visibility (docs/design.md "Results and visibility") ---------------------------

CALLBACK_INDEX = "CallbackDue"  # pending callback deliveries by `due_shard`, ordered by `due_at`
CALLBACK_SHARDS = 4


def callback_shard(task_id: str) -> str:
    return str(int(hashlib.sha256(task_id.encode()).hexdigest()[:8], 16) % CALLBACK_SHARDS)


def stats_key(queue: QueueLevel) -> dict[str, Any]:
    # One partition holds every queue-level's counters, so the console lists them with one Query;
    # only the dispatcher writes them, once per queue-level per stream batch.
    return to_item({"pk": "STATS", "sk": str(queue)})


def stream_marker_key(event_id: str) -> dict[str, Any]:
    return to_item({"pk": f"STREAMBATCH#{event_id}", "sk": "MARKER"})


def clear_key(queue: QueueLevel) -> dict[str, Any]:
    return to_item({"pk": "CLEAR", "sk": str(queue)})


def delivery_key(task_id: str) -> dict[str, Any]:
    return to_item({"pk": f"CALLBACK#{task_id}", "sk": "CALLBACK"})


def dead_letter_key(failed_time: int, task_id: str) -> dict[str, Any]:
    return to_item({"pk": "DEADLETTER", "sk": f"{failed_time:013d}#{task_id}"})


# --- files of the Batch API (docs/design.md "Batches") -------------------------------------------

FILES_PARTITION = "FILES"  # every file, for admins; `FILES#<ak>` holds one key's files


def file_key(file_id: str) -> dict[str, Any]:
    return to_item({"pk": f"FILE#{file_id}", "sk": "FILE"})


def file_listing_keys(ak: str, file_id: str) -> list[dict[str, Any]]:
    """The two listing items of a file: its owner's and everyone's (admins list that one)."""
    return [to_item({"pk": files_partition(ak), "sk": file_id}), to_item({"pk": FILES_PARTITION, "sk": file_id})]


def files_partition(ak: str | None) -> str:
    """The partition a listing reads: one key's files, or (None) everyone's."""
    return FILES_PARTITION if ak is None else f"{FILES_PARTITION}#{ak}"


def file_object_key(file_id: str) -> str:
    """The S3 key of a file's content: the id alone, so a key never tells whose file it is."""
    return f"files/{file_id}"


# --- batches of the Batch API (docs/design.md "Batches") -----------------------------------------

BATCHES_PARTITION = "BATCHES"  # every batch's id, for admins; `BATCHES#<ak>` holds one key's
BATCH_RUNS_PARTITION = "BATCHRUN"  # batches whose fan-out (or cancelling) is not done: the runner's worklist


def batch_key(batch_id: str) -> dict[str, Any]:
    return to_item({"pk": f"BATCH#{batch_id}", "sk": "BATCH"})


def batch_listing_keys(ak: str, batch_id: str) -> list[dict[str, Any]]:
    return [to_item({"pk": batches_partition(ak), "sk": batch_id}), to_item({"pk": BATCHES_PARTITION, "sk": batch_id})]


def batches_partition(ak: str | None) -> str:
    return BATCHES_PARTITION if ak is None else f"{BATCHES_PARTITION}#{ak}"


def batch_run_key(batch_id: str) -> dict[str, Any]:
    return to_item({"pk": BATCH_RUNS_PARTITION, "sk": batch_id})


# --- uploads of the Batch API's files (docs/design.md "Uploads") --------------------------------


def upload_key(upload_id: str) -> dict[str, Any]:
    return to_item({"pk": f"UPLOAD#{upload_id}", "sk": "UPLOAD"})


def upload_part_object_key(upload_id: str, part_id: str) -> str:
    """The S3 key of a part held back until enough bytes follow it for an S3 part (5 MiB)."""
    return f"uploads/{upload_id}/{part_id}"
