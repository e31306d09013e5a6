"""Translation between the domain's values and DynamoDB's attribute values."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from ..models import ResponseMode, Status, Task
from .attribute_values import deserialize, serialize


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: serialize(v) for k, v in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: deserialize(v) for k, v in item.items()}


def expression_values(**values: Any) -> dict[str, Any]:
    """`ExpressionAttributeValues` from keyword arguments: `now=5` gives `{":now": {"N": "5"}}`."""
    return {f":{k}": serialize(v) for k, v in values.items()}


def to_json(value: Any) -> str:
    # Payloads and results are stored as JSON text: floats and key order stay exactly as sent,
    # with no Decimal round trip. Not ASCII-escaped: a CJK prompt would double in size, and
    # the 256 KiB limit (measured in UTF-8) must fit DynamoDB's 400 KB item.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def body_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def is_condition_failure(error: ClientError) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"


def outcome_unknown(error: ClientError) -> bool:
    """A server-side failure (5xx): the write may or may not have been applied."""
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500


def is_transaction_cancelled(error: ClientError) -> bool:
    return error_code(error) == "TransactionCanceledException"


# Cancellation reasons that decide nothing: the same transaction may simply be sent again.
TRANSIENT_CANCELLATIONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def cancellation_codes(error: ClientError) -> list[str]:
    """Per transaction item, why it was cancelled ("None", "ConditionalCheckFailed", ...)."""
    return [reason.get("Code", "") for reason in error.response.get("CancellationReasons", [])]


def task_attributes(task: Task) -> dict[str, Any]:
    """The item attributes of the task object; index attributes are added by the caller."""
    extra = {"custom_id": task.custom_id} if task.custom_id else {}  # batch tasks only
    if task.shard:  # shard 0 is stored as no attribute, so a task of an unsharded queue is as before
        extra["shard"] = task.shard
    return extra | {
        "task_id": task.task_id,
        "ak": task.ak,
        "queue": task.queue,
        "level": task.level,
        "endpoint": task.endpoint,
        "data": to_json(task.data),
        "status": task.status.value,
        "start_time": task.start_time,
        "expire_time": task.expire_time,
        "response_mode": task.response_mode.value,
        "callback_url": task.callback_url,
        "batch_id": task.batch_id,
        "trace_id": task.trace_id,
        "instance_id": task.instance_id,
        "running_time": task.running_time,
        "completed_time": task.completed_time,
        "attempts": task.attempts,
        "max_retries": task.max_retries,
        "visible_time": task.visible_time,
    }


def item_to_task(item: dict[str, Any]) -> Task:
    v = from_item(item)
    process_timeout = v.get("process_timeout")
    return Task(
        task_id=v["task_id"],
        ak=v["ak"],
        queue=v["queue"],
        level=int(v["level"]),
        endpoint=v["endpoint"],
        data=json.loads(v["data"]),
        status=Status(v["status"]),
        start_time=int(v["start_time"]),
        expire_time=int(v["expire_time"]),
        response_mode=ResponseMode(v["response_mode"]),
        callback_url=v.get("callback_url", ""),
        batch_id=v.get("batch_id", ""),
        trace_id=v.get("trace_id", ""),
        instance_id=v.get("instance_id", ""),
        custom_id=v.get("custom_id", ""),
        running_time=int(v.get("running_time", 0)),
        completed_time=int(v.get("completed_time", 0)),
        attempts=int(v.get("attempts", 0)),
        lease_id=v.get("lease_id", ""),
        lease_expire_time=int(v.get("lease_expire_time", 0)),
        process_timeout=None if process_timeout is None else int(process_timeout),
        max_retries=int(v.get("max_retries", 0)),
        visible_time=int(v.get("visible_time", 0)),
        holds_lock="lock_key" in v,
        result_lease=v.get("result_lease", ""),
        # the result of `result_lease`, when stored on the task (store/transitions.py)
        result=json.loads(v["result"]) if "result" in v else None,
        shard=int(v.get("shard", 0)),
    )
