"""A finished batch's output and error files (spec §6), pure: every input line ends in exactly
one of the two. Output: the requests that ended 2xx. Errors: every other end — failed, timed out,
cancelled, or not ended when the batch was cancelled or expired — with `error.code`."""

from __future__ import annotations

import json
from typing import Any

from .models import Status, Task

# The code of a line whose request the batch's end cut short, by the batch's final status
# (`completed` only for a line that expired at the deadline, coded batch_expired anyway).
UNFINISHED_CODES = {"cancelled": "batch_cancelled", "expired": "batch_expired", "completed": "batch_expired"}


def _response(task: Task, result: dict[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {"status_code": int(result.get("status_code", 200)), "request_id": task.task_id, "body": result.get("body")}


def _expired_at_the_deadline(task: Task | None) -> bool:
    """A batch task's expire_time is the batch's deadline, so the sweeper may end it as `timeout`
    there before the batch itself is expired: that is the batch's expiry too."""
    return task is not None and task.status is Status.TIMEOUT and task.completed_time >= task.expire_time


def _ended_by_the_batch(task: Task | None, final_status: str) -> bool:
    """The request did not end by itself: never fanned out, still waiting or running when the
    batch ended, cancelled by the batch's cancel, or expired at its deadline."""
    if task is None or not task.status.is_final:
        return True
    return _expired_at_the_deadline(task) or (task.status is Status.CANCELLED and final_status == "cancelled")


def output_lines(
    custom_ids: list[str | None], tasks: list[Task | None], results: dict[str, dict[str, Any]], final_status: str
) -> tuple[list[str], list[str]]:
    """(output lines, error lines), line i from `tasks[i]` (None: never created); `results` by
    task id for the tasks that ended with one."""
    output: list[str] = []
    errors: list[str] = []
    for custom_id, task in zip(custom_ids, tasks, strict=True):
        if _ended_by_the_batch(task, final_status):
            code = "batch_expired" if _expired_at_the_deadline(task) else UNFINISHED_CODES[final_status]
            line = {
                "id": task.task_id if task else None,
                "custom_id": custom_id,
                "response": None,
                "error": {"code": code, "message": f"the batch was {final_status} before this request ended"},
            }
            errors.append(json.dumps(line, ensure_ascii=False))
            continue
        result = results.get(task.task_id)
        line = {"id": task.task_id, "custom_id": task.custom_id or custom_id, "response": _response(task, result)}
        if task.status is Status.SUCCEEDED:
            output.append(json.dumps(line | {"error": None}, ensure_ascii=False))
        else:
            message = f"the request ended {task.status.value}"
            errors.append(
                json.dumps(line | {"error": {"code": task.status.value, "message": message}}, ensure_ascii=False)
            )
    return output, errors
