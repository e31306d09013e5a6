"""Starting the batch function without waiting for it (Lambda's asynchronous invocation): the
one Lambda call of the service."""

from __future__ import annotations

import json
from typing import Any


class LambdaStarter:
    """`BatchStarter` in AWS: Lambda queues the event and retries a failed run twice; the batch
    function's schedule picks up whatever is still left."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._lambda = client
        self._function = function_name

    def start(self, batch_id: str) -> None:
        self._lambda.invoke(
            FunctionName=self._function, InvocationType="Event", Payload=json.dumps({"batch_id": batch_id}).encode()
        )
