"""The API function's entry point."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from taskq import import_collector
from taskq.observability import publish_metrics
from taskq.requests import parse_json_body

from .errors import refuse_before_routing, register_error_handlers
from .routes import (
    batched,
    batches,
    console,
    console_pages,
    events,
    files,
    keys,
    leases,
    meta,
    queue,
    shards,
    uploads,
)

logger = Logger()
app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=parse_json_body)
app.include_router(meta.router)
app.include_router(queue.router)
app.include_router(batched.router)
app.include_router(leases.router)
app.include_router(events.router)
app.include_router(keys.router)
app.include_router(console.router)
app.include_router(console_pages.router)
app.include_router(files.router)
app.include_router(uploads.router)
app.include_router(batches.router)
app.include_router(shards.router)
register_error_handlers(app)
meta.serve_openapi(app)
import_collector.resume()  # the handler module is complete (taskq_api/__init__.py paused it)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    refusal = refuse_before_routing(
        event, meta.PUBLIC_PATHS | console_pages.PUBLIC_PATHS, {files.UPLOAD_PATH, uploads.PART_PATH}
    )
    if refusal is not None:
        return refusal
    try:
        return app.resolve(event, context)
    finally:
        publish_metrics()
