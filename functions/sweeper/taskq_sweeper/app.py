"""The sweeper function's entry point (an EventBridge schedule, every minute)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from taskq import import_collector
from taskq.clock import SystemClock
from taskq.store import store_from_env
from taskq.sweeper import Sweeper

logger = Logger()
_sweeper: Sweeper | None = None


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    global _sweeper  # built once per execution environment, reused by warm invocations
    if _sweeper is None:
        _sweeper = Sweeper(store_from_env(), SystemClock())
    report = dict(_sweeper.sweep())
    if report:  # quiet when there was nothing to do: locally this runs every second
        logger.info("sweep done", extra={"sweep": report})
    return report


import_collector.resume()  # the handler module is complete (its package paused the collector)
