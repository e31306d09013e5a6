"""The dispatcher's stream entry point: a batch of Tasks-table changes (one shard, in order).

1. Counters: one transaction adds the batch's counts per queue-level (taskq/counters.py). If it
   fails, the function fails and Lambda retries the whole batch, which the batch's replay
   marker keeps from counting twice.
2. Callbacks: per record (powertools batch processing), the delivery record of a task that just
   reached succeeded, failed or timeout is created; a record whose step fails is reported, and
   Lambda retries from the first reported record, where a replay marker is left first.
3. The first attempt of every delivery started, side by side. A failed attempt is not a failed
   record: it is stored with its next attempt time for the scheduled retry job.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from taskq import import_collector
from taskq.counters import BatchCounter
from taskq.delivery import Claimed, delivery_from_record
from taskq.observability import publish_metrics

from . import wiring

logger = Logger()
# What this function calls out with: DynamoDB (botocore) and the callbacks (http.client). Without
# the list, X-Ray patches every library it knows that is installed (it imports requests and
# sqlite3 to patch them, 20-30 ms of each cold start).
TRACED_MODULES = ("botocore", "httplib")
tracer = Tracer(patch_modules=TRACED_MODULES)


def handle_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    wired = wiring.current()
    records = event.get("Records") or []
    counter = BatchCounter(wired.store, records, wired.clock.now_ms())
    counter.apply()

    claimed: list[Claimed] = []

    def start_delivery(record: DynamoDBRecord) -> None:
        delivery = delivery_from_record(record.raw_event)
        if delivery is not None:
            logger.append_keys(task_id=delivery.task_id, queue=f"{delivery.queue}:{delivery.level}")
            started = wired.dispatcher.start(delivery)
            if started is not None:
                claimed.append(started)

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    try:
        response = process_partial_response(event, start_delivery, processor, context)
    finally:
        logger.remove_keys(["task_id", "queue"])
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    first_failed = next((r for r in records if r["dynamodb"]["SequenceNumber"] in failed), None)
    if first_failed is not None:
        counter.mark_retry_start(first_failed)
        logger.warning("records failed; Lambda retries from the first", extra={"failed": len(failed)})
    outcomes = wired.dispatcher.attempt_all(claimed)
    logger.info("stream batch done", extra={"records": len(records), "callbacks": dict(outcomes)})
    return response


@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return handle_batch(event, context)
    finally:
        publish_metrics()


import_collector.resume()  # the handler module is complete (its package paused the collector)
