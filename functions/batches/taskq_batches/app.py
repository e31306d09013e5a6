"""The batch function's entry point: `{"batch_id"}` from the API (create, cancel) or from itself
(a fan-out continuing), and an EventBridge schedule every minute for whatever is left."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from taskq.batch_runner import BatchRunner, run_event
from taskq.batches import BatchStarter
from taskq.clock import SystemClock
from taskq.store import batch_starter_from_env, file_objects_from_env, store_from_env

logger = Logger()
# Stop this long before the function's time-out: the last chunk and the cursor move must fit.
MARGIN_MS = 20_000


@cache
def _runner() -> tuple[BatchRunner, BatchStarter]:
    """Built once per execution environment, reused by warm invocations."""
    return BatchRunner(store_from_env(), file_objects_from_env(), SystemClock()), batch_starter_from_env()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    runner, starter = _runner()
    until = SystemClock().now_ms() + max(context.get_remaining_time_in_millis() - MARGIN_MS, 1_000)
    run_event(runner, starter, event, until)
