"""The API function's entry point."""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from .errors import register_error_handlers, unauthorized_proxy_response
from .routes import keys, leases, meta, queue

logger = Logger()


def create_app() -> APIGatewayRestResolver:
    resolver = APIGatewayRestResolver(enable_validation=True)
    for routes in (meta, queue, leases, keys):
        resolver.include_router(routes.router)
    register_error_handlers(resolver)
    meta.serve_openapi(resolver)
    return resolver


# The resolver of the main thread: the only one in Lambda, and the one tests configure.
app = create_app()
_per_thread = threading.local()


def current_app() -> APIGatewayRestResolver:
    """A resolver holds the request it is serving. Lambda serves one request at a time per
    process, but the local server serves several at once on threads: each gets its own."""
    if threading.current_thread() is threading.main_thread():
        return app
    if not hasattr(_per_thread, "app"):
        _per_thread.app = create_app()
    return _per_thread.app


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("path") not in meta.PUBLIC_PATHS and not (event.get("requestContext") or {}).get("authorizer"):
        return unauthorized_proxy_response()
    return current_app().resolve(event, context)
