"""The online function's ASGI app: `POST /v1/queue/put` in every mode and
`GET /v1/queue/{task_id}/stream`. Each route parses, calls the same QueueService the API
function uses, and shapes the answer; errors map to the spec's body through the same types.

In AWS it runs under uvicorn behind the Lambda Web Adapter, which passes API Gateway's request
context (with the authorizer's) in the `x-amzn-request-context` header.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import cache
from http import HTTPStatus

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from taskq.clock import SystemClock
from taskq.errors import TaskqError, Unauthorized
from taskq.http_errors import UNAUTHORIZED_MESSAGE, error_body
from taskq.models import Principal
from taskq.permissions import principal_from_authorizer
from taskq.requests import PutRequest, parse_body
from taskq.service import QueueService
from taskq.store import store_from_env

from .waiting import KEEP_ALIVE_SECONDS, Sleep, stream_frames, wait_for_end

logger = logging.getLogger(__name__)
REQUEST_CONTEXT_HEADER = "x-amzn-request-context"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@cache
def service_from_env() -> QueueService:
    """Built once per execution environment, on first use."""
    return QueueService(store_from_env(), SystemClock())


def principal_of(request: Request) -> Principal:
    """The principal API Gateway's authorizer established, from the request context the Lambda
    Web Adapter forwards (the same context the API function reads)."""
    try:
        context = json.loads(request.headers[REQUEST_CONTEXT_HEADER])
        authorizer = context.get("authorizer") if isinstance(context, dict) else None
    except (KeyError, ValueError) as e:
        raise Unauthorized(UNAUTHORIZED_MESSAGE) from e
    return principal_from_authorizer(authorizer if isinstance(authorizer, dict) else None)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def create_app(
    get_service: Callable[[], QueueService] = service_from_env,
    *,
    sleep: Sleep = anyio.sleep,
    keep_alive_seconds: float = KEEP_ALIVE_SECONDS,
) -> Starlette:
    async def put(request: Request) -> Response:
        principal = principal_of(request)
        media_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if not (media_type == "application/json" or media_type.endswith("+json")):  # as the API function
            return error_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type: must be application/json")
        body = parse_body(PutRequest, await request.body())
        service = get_service()
        task_id = await run_in_threadpool(service.put, principal, body, request.headers.get("idempotency-key"))
        if body.response_mode == "callback":
            return JSONResponse({"code": 200, "timestamp": service.now_ms(), "data": task_id})
        headers = {"X-Task-Id": task_id}
        watch = await run_in_threadpool(service.watch, principal, task_id)
        if body.response_mode == "streaming":
            frames = stream_frames(watch, sleep, keep_alive_seconds)
            return StreamingResponse(frames, media_type="text/event-stream", headers=headers | SSE_HEADERS)
        ending = await wait_for_end(watch, sleep, request.is_disconnected)
        if ending is None:  # nobody is listening any more
            return Response(status_code=HTTPStatus.NO_CONTENT, headers=headers)
        return JSONResponse(ending.body, status_code=ending.status, headers=headers)

    async def stream(request: Request) -> Response:
        principal = principal_of(request)
        task_id = request.path_params["task_id"]
        last_event_id = request.headers.get("last-event-id")
        watch = await run_in_threadpool(get_service().resume_stream, principal, task_id, last_event_id)
        frames = stream_frames(watch, sleep, keep_alive_seconds)
        headers = {"X-Task-Id": task_id} | SSE_HEADERS
        return StreamingResponse(frames, media_type="text/event-stream", headers=headers)

    async def health(request: Request) -> Response:
        # The Lambda Web Adapter's readiness check (AWS_LWA_READINESS_CHECK_PATH=/health).
        return JSONResponse({"status": "ok"})

    async def domain_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, TaskqError)
        task_id = request.path_params.get("task_id")
        return error_response(error.status, error.message, {"X-Task-Id": task_id} if task_id else None)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if error.status_code == HTTPStatus.NOT_FOUND:
            return error_response(404, f"no route {request.method} {request.url.path}")
        return error_response(error.status_code, str(error.detail))

    async def unexpected(request: Request, error: Exception) -> Response:
        logger.exception("unhandled error", exc_info=error)
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")

    return Starlette(
        routes=[
            Route("/v1/queue/put", put, methods=["POST"]),
            Route("/v1/queue/{task_id}/stream", stream, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
        exception_handlers={TaskqError: domain_error, HTTPException: http_error, Exception: unexpected},
    )


app = create_app()
