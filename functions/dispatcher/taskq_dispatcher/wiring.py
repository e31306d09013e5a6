"""What the dispatcher's entry points work with, built once per execution environment from its
environment; tests and the local server may put in their own (a manual clock, a fake sender)."""

from __future__ import annotations

from dataclasses import dataclass

from taskq.callbacks import CallbackGuard, HttpSender
from taskq.clearing import QueueClearer
from taskq.clock import Clock, SystemClock
from taskq.delivery import CallbackDispatcher, RetryPolicy
from taskq.observability import PowertoolsTelemetry
from taskq.store import DynamoStore, store_from_env

# Cancels of a clear run side by side in the scheduled job: 100k tasks take about half a minute.
CLEAR_WORKERS = 16


@dataclass(frozen=True)
class Wiring:
    store: DynamoStore
    clock: Clock
    dispatcher: CallbackDispatcher
    clearer: QueueClearer


def wiring_from_env() -> Wiring:
    store, clock, telemetry = store_from_env(), SystemClock(), PowertoolsTelemetry()
    sender = HttpSender(CallbackGuard.from_env())
    dispatcher = CallbackDispatcher(store, clock, sender, RetryPolicy.from_env(), telemetry)
    return Wiring(store, clock, dispatcher, QueueClearer(store, clock, telemetry, workers=CLEAR_WORKERS))


_current: Wiring | None = None


def current() -> Wiring:
    global _current
    if _current is None:
        _current = wiring_from_env()
    return _current


def use(wiring: Wiring | None) -> None:
    """Replaces the wiring (None: build it from the environment again on next use)."""
    global _current
    _current = wiring
