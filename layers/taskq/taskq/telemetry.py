"""What the domain reports about itself: counts (metrics) and structured log lines.

The functions plug in powertools Metrics (EMF) and Logger; tests and the local server may use
`NO_TELEMETRY` or a recording fake. Keeping it a protocol keeps powertools out of the domain.
"""

from __future__ import annotations

from typing import Any, Protocol


class Telemetry(Protocol):
    def count(self, metric: str, value: int = 1) -> None:
        """Adds `value` to the metric `metric` (a count)."""
        ...

    def log(self, message: str, **fields: Any) -> None:
        """One structured log line; fields carry `task_id` and `queue` where there is one."""
        ...


class NoTelemetry:
    def count(self, metric: str, value: int = 1) -> None:
        pass

    def log(self, message: str, **fields: Any) -> None:
        pass


NO_TELEMETRY = NoTelemetry()
