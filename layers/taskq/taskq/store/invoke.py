"""Starting the batch function without waiting for it (Lambda's asynchronous invocation): the
one Lambda call of the service."""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

logger = logging.getLogger(__name__)


class LambdaStarter:
    """`BatchStarter` in AWS: Lambda queues the event and retries a failed run twice; the batch
    function's schedule picks up whatever is still left."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._lambda = client
        self._function = function_name

    def start(self, batch_id: str) -> None:
        """Never fails the request that asked: the batch is on the worklist already (its run
        item), so the schedule starts it within a minute. A failed create would be retried by
        the openai client and make a second batch."""
        try:
            self._lambda.invoke(
                FunctionName=self._function, InvocationType="Event", Payload=json.dumps({"batch_id": batch_id}).encode()
            )
        except (BotoCoreError, ClientError):
            logger.warning("could not start the batch function for %s; the schedule will", batch_id, exc_info=True)
