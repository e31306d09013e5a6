"""The functions' metrics (powertools Metrics, CloudWatch EMF) and structured log lines, behind
the domain's Telemetry protocol (telemetry.py). Imported only by the functions' entry points."""

from __future__ import annotations

import os
import threading
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import Metrics, MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

# The function's Logger (same service name) formats these lines; one Metrics per process.
logger = Logger(child=True)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "taskq")
# add_metric reads, appends to and stores back a metric's entry: two threads counting at once (the
# completes of one complete-batch) could lose one count without this lock.
_metrics_lock = threading.Lock()


class PowertoolsTelemetry:
    def count(self, metric: str, value: int = 1) -> None:
        if value:
            with _metrics_lock:
                metrics.add_metric(name=metric, unit=MetricUnit.Count, value=value)

    def log(self, message: str, level: str = "info", **fields: Any) -> None:
        getattr(logger, level)(message, extra=fields, stacklevel=2)


def publish_metrics() -> None:
    """Writes this invocation's metrics as one EMF line, if there are any; with metrics
    disabled (the local server), forgets them instead of letting them pile up."""
    if not metrics.metric_set:
        return
    if is_metrics_disabled():
        metrics.clear_metrics()
    else:
        metrics.flush_metrics()
