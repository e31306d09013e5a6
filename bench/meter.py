"""Counting DynamoDB requests and failed conditional writes with botocore's events.

The hooks sit on the client, so they see every request the store (or the baseline) sends,
whatever code path sent it, including retries that botocore makes on its own.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

# The errors that mean "a conditional write lost": the write was sent, billed and refused.
CONDITION_FAILURES = {"ConditionalCheckFailedException", "TransactionCanceledException"}


class Meter:
    """Requests by operation and failed conditional writes, on one or more clients."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.failed_writes = 0
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call.dynamodb", self._before_call)
        client.meta.events.register("after-call.dynamodb", self._after_call)
        return client

    def detach(self, client: Any) -> None:
        client.meta.events.unregister("before-call.dynamodb", self._before_call)
        client.meta.events.unregister("after-call.dynamodb", self._after_call)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.failed_writes = 0

    def _before_call(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1

    def _after_call(self, parsed: dict[str, Any], **_: Any) -> None:
        if parsed.get("Error", {}).get("Code") in CONDITION_FAILURES:
            with self._lock:
                self.failed_writes += 1

    def since(self, before: Counter[str]) -> Counter[str]:
        """The requests made since `before` (a copy of `calls` taken earlier)."""
        with self._lock:
            return self.calls - before

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return self.calls.copy()

    @property
    def total(self) -> int:
        return sum(self.calls.values())
