"""The dispatcher's scheduled entry point (every minute in AWS, every second locally): the next
attempt of every due callback, and the rest of every unfinished queue clear."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from taskq import import_collector
from taskq.observability import publish_metrics

from . import wiring

logger = Logger()


def run_scheduled_jobs() -> dict[str, dict[str, int]]:
    wired = wiring.current()
    return {"callbacks": dict(wired.dispatcher.retry_due()), "clears": dict(wired.clearer.continue_pending())}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, dict[str, int]]:
    try:
        report = run_scheduled_jobs()
    finally:
        publish_metrics()
    logger.info("scheduled jobs done", extra=report)
    return report


import_collector.resume()  # the handler module is complete (its package paused the collector)
