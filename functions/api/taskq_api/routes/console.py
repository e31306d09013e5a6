"""Stats and console routes (spec §3.10): counters per queue-level, clear, dead letters."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ..dependencies import Console
from .queue import Caller, json_string

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
