"""Fault injection for DynamoDB calls, at the botocore level, for any test.

A `FaultPlan` is attached to a client (`plan.attach(client)`) and decides, for every request the
client sends (each SDK retry is a request of its own), whether to:

- fail it before it takes effect: `THROTTLE` (ThrottlingException), `INTERNAL` (500
  InternalServerError), `CONFLICT` (TransactionCanceledException with a TransactionConflict
  reason; TransactWriteItems only) — the request never reaches DynamoDB;
- let it take effect and lose the answer (`LOST`): the request is served, its answer dropped, and
  the SDK sees a ReadTimeoutError, which botocore's retry sends again (or, with retries spent,
  the caller gets);
- delay it (`DELAY`): the plan's `delay` callable runs first (a sleep, or a scheduler's yield).

Decisions come from a seeded RNG (`rates`, per kind, optionally only for some `operations`) or an
explicit `script` ("the 3rd UpdateItem is LOST"), so a run can be replayed. Every injected fault
is logged in `plan.injected` (call index, operation, the operation's call number, kind).

How: a `before-send.dynamodb` handler registered first. botocore calls every `before-send`
handler and uses the first answer that is not None, so on moto in-process (whose stub is a later
`before-send` handler) a canned error also points the request at an address moto does not
serve; a LOST request is served by emitting the event again (moto) or by sending it with the
client's own HTTP session (dynalite, moto server), and the answer is then dropped.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.hooks import first_non_none_response


class Kind(StrEnum):
    THROTTLE = "throttle"
    INTERNAL = "internal"
    CONFLICT = "conflict"
    LOST = "lost"
    DELAY = "delay"


BEFORE_EFFECT = frozenset({Kind.THROTTLE, Kind.INTERNAL, Kind.CONFLICT})
TRANSACTION_ONLY = frozenset({Kind.CONFLICT})
# Where a request answered by a canned error is pointed, so moto's stub (called after us) skips it.
UNSERVED_URL = "http://fault-injected.invalid/"
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"


@dataclass(frozen=True)
class Injected:
    index: int  # the plan's request count when it happened (1-based; every SDK retry counts)
    operation: str
    nth: int  # this operation's request count (1-based)
    kind: Kind

    def __str__(self) -> str:
        return f"request {self.index}: {self.operation} #{self.nth} {self.kind.value}"


@dataclass(frozen=True)
class Scripted:
    """`kind` on the `nth` request of `operation` (1-based, SDK retries count)."""

    operation: str
    nth: int
    kind: Kind


@dataclass
class FaultPlan:
    seed: int = 0
    rates: Mapping[Kind, float] = field(default_factory=dict)
    script: Sequence[Scripted] = ()
    operations: Collection[str] | None = None  # rates apply only to these (None: every operation)
    delay: Callable[[str], None] = lambda operation: time.sleep(0.05)
    before_request: Callable[[str], None] | None = None  # a scheduling point for every request
    enabled: bool = True
    injected: list[Injected] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._requests = 0
        self._per_operation: Counter[str] = Counter()
        self._script = {(s.operation, s.nth): s.kind for s in self.script}

    def attach(self, client: Any) -> Any:
        def before_send(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
            return self._before_send(client, request, event_name)

        client.meta.events.register_first("before-send.dynamodb", before_send, unique_id=f"fault-plan-{id(self)}")
        return client

    def detach(self, client: Any) -> None:
        client.meta.events.unregister("before-send.dynamodb", unique_id=f"fault-plan-{id(self)}")

    @property
    def requests(self) -> int:
        """How many requests the plan has seen (each SDK retry counts)."""
        return self._requests

    def counts(self) -> Counter[str]:
        return Counter(f.kind.value for f in self.injected)

    def describe(self) -> str:
        """The log of injected faults, one a line, to explain (and replay) a failure."""
        return "\n".join(map(str, self.injected)) or "no fault injected"

    # --- deciding ------------------------------------------------------------------------------

    def _decide(self, operation: str) -> Kind | None:
        with self._lock:
            self._requests += 1
            self._per_operation[operation] += 1
            nth = self._per_operation[operation]
            kind = self._script.get((operation, nth))
            if kind is None and self.enabled and (self.operations is None or operation in self.operations):
                kind = self._draw(operation)
            if kind is not None:
                self.injected.append(Injected(self._requests, operation, nth, kind))
            return kind

    def _draw(self, operation: str) -> Kind | None:
        """One draw per request whatever the rates, so a plan's decisions depend on the seed and
        the order of requests only."""
        draw = self._rng.random()
        for kind, rate in self.rates.items():
            if kind in TRANSACTION_ONLY and operation != "TransactWriteItems":
                continue
            if draw < rate:
                return kind
            draw -= rate
        return None

    # --- acting --------------------------------------------------------------------------------

    def _before_send(self, client: Any, request: Any, event_name: str) -> AWSResponse | None:
        if getattr(self._local, "serving", False):
            return None  # our own re-emit of a LOST request: let the real handler serve it
        operation = event_name.rsplit(".", 1)[-1]
        if self.before_request is not None:
            self.before_request(operation)
        kind = self._decide(operation)
        if kind is None:
            return None
        if kind is Kind.DELAY:
            self.delay(operation)
            return None
        if kind is Kind.LOST:
            self._serve(client, request, event_name)
            raise ReadTimeoutError(endpoint_url=request.url)
        answer = error_answer(kind, request)
        request.url = UNSERVED_URL
        return answer

    def _serve(self, client: Any, request: Any, event_name: str) -> None:
        """Has the request take effect, and throws its answer away."""
        self._local.serving = True
        try:
            answer = first_non_none_response(client.meta.events.emit(event_name, request=request))
        finally:
            self._local.serving = False
        if answer is None:
            answer = client._endpoint.http_session.send(request)
        _ = answer.content  # read it all: the server has applied the request


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any):
        yield self._data


def error_answer(kind: Kind, request: Any) -> AWSResponse:
    """DynamoDB's answer for a request refused before it took effect."""
    status, body = 400, {}
    if kind is Kind.THROTTLE:
        message = "Rate of requests exceeds the allowed throughput."
        body = {"__type": f"{_ERROR_PREFIX}ThrottlingException", "message": message}
    elif kind is Kind.INTERNAL:
        status, body = 500, {"__type": f"{_ERROR_PREFIX}InternalServerError", "message": "Internal server error"}
    elif kind is Kind.CONFLICT:
        items = len(json.loads(request.body or b"{}").get("TransactItems", [])) or 1
        # DynamoDB names the item another transaction holds; which one does not matter to a caller
        # that retries the whole transaction, so the first.
        reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
        reasons += [{"Code": "None"}] * (items - 1)
        codes = ", ".join(r["Code"] for r in reasons)
        body = {
            "__type": f"{_ERROR_PREFIX}TransactionCanceledException",
            "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
            "CancellationReasons": reasons,
        }
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault-injected"}
    return AWSResponse(request.url, status, headers, _Body(json.dumps(body).encode()))


def without_backoff(client: Any) -> Any:
    """Makes botocore's standard-mode retries of `client` immediate (the sleep between attempts
    is real time, which a manual-clock run only wastes). Private botocore attributes: tests only."""
    handlers = client.meta.events._emitter._unique_id_handlers
    entry = next((v for k, v in handlers.items() if str(k).startswith("retry-config-")), None)
    if entry is not None:
        entry["handler"].__self__._retry_policy._retry_backoff._random = lambda: 0
    return client
