"""Stats and console routes (spec §3.10, issue 15): counters per queue-level, clear, dead letters
and their redelivery, and the JSON the console's pages read (all admin, but a queue's stats)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ..dependencies import Console
from .queue import Caller, json_string

TaskId = Annotated[str, Path(min_length=1, max_length=200, description="a task id, TASK-...")]

router = APIGatewayRouter()


@router.get("/v1/queue/<queue_level>/stats", summary="A queue-level's counters (admin, or a worker of the queue)")
def queue_stats(queue_level: str, console: Console, caller: Caller) -> dict[str, Any]:
    return console.queue_stats(caller, queue_level)


@router.get("/v1/console/queue/stats", summary="The counters of every queue-level that has had a task (admin)")
def all_stats(console: Console, caller: Caller) -> list[dict[str, Any]]:
    return console.all_stats(caller)


@router.post("/v1/console/<queue_level>/clear", summary="Cancel every task waiting in a queue-level (admin)")
def clear(queue_level: str, console: Console, caller: Caller):
    """No task waiting at the call is handed out once this answers. `X-Clear-Complete: false`
    says some are still being cancelled in the background (they show `cancelled` soon)."""
    queue, complete = console.clear(caller, queue_level)
    answer = json_string(str(queue))
    answer.headers["X-Clear-Complete"] = "true" if complete else "false"
    return answer


@router.get("/v1/console/dead-letters", summary="Callback deliveries that failed for good, newest first (admin)")
def dead_letters(
    console: Console, caller: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    return console.dead_letters(caller, limit)


@router.post(
    "/v1/console/dead-letters/<task_id>/redeliver",
    summary="Try a dead letter's callback again (admin)",
    responses={202: {"description": "the callback is due again; the retry job sends it"}},
)
def redeliver(task_id: TaskId, console: Console, caller: Caller):
    """The delivery gets a fresh retry budget and its dead letter goes; if it fails for good
    again, a new dead letter is filed. A delivery already under way answers 202 too; one that
    was delivered meanwhile 409."""
    console.redeliver(caller, task_id)
    return json_string(task_id, status=202)


@router.get("/v1/console/queues", summary="Every queue-level's counters and per-minute series of the last hour (admin)")
def queues(console: Console, caller: Caller) -> list[dict[str, Any]]:
    return console.queues(caller)


@router.get(
    "/v1/console/queues/<queue_level>",
    summary="A queue-level: registration, counters, series, next waiting and running tasks (admin)",
)
def queue_detail(queue_level: str, console: Console, caller: Caller) -> dict[str, Any]:
    return console.queue_detail(caller, queue_level)


@router.get(
    "/v1/console/queues/<queue_level>/running",
    summary="Up to 20 running tasks of a queue-level, soonest lease end first (admin)",
)
def running_tasks(queue_level: str, console: Console, caller: Caller) -> list[dict[str, Any]]:
    return console.running_tasks(caller, queue_level)


@router.get("/v1/console/tasks/<task_id>", summary="A task's events and callback delivery (admin)")
def task_extras(task_id: TaskId, console: Console, caller: Caller) -> dict[str, Any]:
    return console.task_extras(caller, task_id)
