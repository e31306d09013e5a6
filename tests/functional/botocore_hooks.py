"""Two single-shot DynamoDB faults on a client's botocore events, for the store's regression tests
(issue 10 builds a general, seeded fault plan in tests/faults.py; these are its two smallest cases).

- `cancel_once`: the next call of an operation is cancelled before it takes effect, as DynamoDB
  cancels a transaction that met a concurrent one (`TransactionConflict`).
- `lose_answer_once`: the next call takes effect, then its answer is lost (a read timeout), so
  botocore's retry sends the same request again, as it does against DynamoDB.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from botocore.exceptions import ReadTimeoutError


def cancel_once(client: Any, operation: str, codes: list[str], when: Callable[[dict], bool] = lambda _: True) -> list:
    """Cancels the next `operation` call whose request `when` accepts, with one reason code per
    transaction item; returns the list of cancelled requests (empty until it fired)."""
    fired: list[dict] = []

    def answer(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        if fired or not when(params["body"]):
            return None
        fired.append(params["body"])
        parsed = {
            "Error": {"Code": "TransactionCanceledException", "Message": f"Transaction cancelled [{', '.join(codes)}]"},
            "CancellationReasons": [{"Code": code} for code in codes],
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return SimpleNamespace(status_code=400, headers={}), parsed

    client.meta.events.register(f"before-call.dynamodb.{operation}", answer)
    return fired


def lose_answer_once(client: Any, operation: str) -> list:
    """Lets the next `operation` call commit, then loses its answer; returns the lost requests.

    moto answers in a handler of the generic `before-send` event, and botocore calls every
    handler of an event, the more specific events' first: so this one is registered on the
    generic event too, after moto's, runs once the write took effect, and a read timeout raised
    here is retried by botocore like one on the wire."""
    lost: list[Any] = []
    target = f"DynamoDB_20120810.{operation}".encode()

    def drop(request: Any, **_: Any) -> None:
        if not lost and request.headers.get("X-Amz-Target") in (target, target.decode()):
            lost.append(request)
            raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register_last("before-send", drop)
    return lost
