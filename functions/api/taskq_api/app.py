"""The API function's entry point."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from .errors import register_error_handlers
from .routes import keys, leases, meta, queue

logger = Logger()
app = APIGatewayRestResolver(enable_validation=True)
app.include_router(meta.router)
app.include_router(queue.router)
app.include_router(leases.router)
app.include_router(keys.router)
register_error_handlers(app)


@app.get("/openapi.json", include_in_schema=False)
def openapi():
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(title="taskq", version="1.0.0"),
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
