"""The online function's ASGI app: `POST /v1/queue/put` in every mode,
`GET /v1/queue/{task_id}/stream`, and the OpenAI-compatible front door (`POST /v1/chat/completions`,
`/v1/completions`, `/v1/embeddings` and any other POST path that is a queue's endpoint). Each
route parses, calls the same QueueService the API function uses, and shapes the answer; errors
map to the spec's body through the same types (on the front door with OpenAI's `error` object).

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
from starlette.routing import Match, Route

from taskq.clock import SystemClock
from taskq.errors import TaskqError, Unauthorized, UnsupportedMediaType
from taskq.http_errors import UNAUTHORIZED_MESSAGE, error_body
from taskq.models import Principal
from taskq.online import changes, frontdoor, sse
from taskq.online.watch import TaskWatch
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


def require_json(request: Request) -> None:
    """415 unless the body says it is JSON, as the API function answers."""
    media_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if not (media_type == "application/json" or media_type.endswith("+json")):
        raise UnsupportedMediaType("Content-Type: must be application/json")


def is_front_door(request: Request) -> bool:
    return getattr(request.state, "front_door", False)


def create_app(
    get_service: Callable[[], QueueService] = service_from_env,
    *,
    sleep: Sleep = anyio.sleep,
    keep_alive_seconds: float = KEEP_ALIVE_SECONDS,
    task_changes: Callable[[], changes.TaskChanges | None] = changes.installed,
) -> Starlette:
    """`task_changes`: the change signal waits sleep through, if one is installed (none in AWS:
    the local server installs its own, taskq.online.changes), looked up per request."""

    async def put(request: Request) -> Response:
        principal = principal_of(request)
        require_json(request)
        body = parse_body(PutRequest, await request.body())
        service = get_service()
        task_id = await run_in_threadpool(service.put, principal, body, request.headers.get("idempotency-key"))
        if body.response_mode == "callback":
            return JSONResponse({"code": 200, "timestamp": service.now_ms(), "data": task_id})
        watch = await run_in_threadpool(service.watch, principal, task_id)
        if body.response_mode == "streaming":
            return stream_answer(watch, sse.NATIVE)
        ending = await wait_for_end(watch, sleep, request.is_disconnected, task_changes())
        if ending is None:  # nobody is listening any more
            return Response(status_code=HTTPStatus.NO_CONTENT, headers={"X-Task-Id": task_id})
        return JSONResponse(ending.body, status_code=ending.status, headers={"X-Task-Id": task_id})

    async def front_door(request: Request) -> Response:
        """An OpenAI request put as a level-0 task of the queue it names, answered as the put's
        online modes answer, shaped for an OpenAI SDK (taskq.online.frontdoor)."""
        request.state.front_door = True
        principal = principal_of(request)
        require_json(request)
        path = request.url.path
        asked = frontdoor.parse_request(path, await request.body(), request.headers.get(frontdoor.QUEUE_HEADER))
        service = get_service()
        endpoint = await run_in_threadpool(service.front_door_endpoint, principal, asked.queue, asked.named_by)
        frontdoor.check_endpoint(path, asked.queue, endpoint)
        body = frontdoor.put_request(path, asked)
        task_id = await run_in_threadpool(service.put, principal, body, request.headers.get("idempotency-key"))
        watch = await run_in_threadpool(service.watch, principal, task_id)
        if asked.streaming:
            return stream_answer(watch, frontdoor.OPENAI)
        ending = await wait_for_end(watch, sleep, request.is_disconnected, task_changes())
        headers = {"X-Task-Id": task_id}
        if ending is None:
            return Response(status_code=HTTPStatus.NO_CONTENT, headers=headers)
        if ending.status >= 400:
            headers |= frontdoor.NO_RETRY
        return JSONResponse(frontdoor.blocking_answer(ending), status_code=ending.status, headers=headers)

    def stream_answer(watch: TaskWatch, style: sse.StreamFormat) -> StreamingResponse:
        frames = stream_frames(watch, sleep, keep_alive_seconds, style, task_changes())
        headers = {"X-Task-Id": watch.task.task_id} | SSE_HEADERS
        return StreamingResponse(frames, media_type="text/event-stream", headers=headers)

    async def stream(request: Request) -> Response:
        principal = principal_of(request)
        task_id = request.path_params["task_id"]
        last_event_id = request.headers.get("last-event-id")
        watch = await run_in_threadpool(get_service().resume_stream, principal, task_id, last_event_id)
        return stream_answer(watch, sse.NATIVE)

    async def health(request: Request) -> Response:
        # The Lambda Web Adapter's readiness check (AWS_LWA_READINESS_CHECK_PATH=/health).
        return JSONResponse({"status": "ok"})

    def failure(request: Request, status: int, message: str, error: Exception | None = None) -> Response:
        """The error answer: the spec's body; on the front door with OpenAI's `error` object too,
        and, for a 4xx (the same request fails the same way again), no retry by the SDK."""
        if is_front_door(request):
            headers = frontdoor.NO_RETRY if status < 500 else None
            return JSONResponse(frontdoor.error_of(status, message, error), status_code=status, headers=headers)
        # The stream route names its task only on an answer about that task (409: not streaming),
        # never for one not found or not yet looked up: the path's id may be any text.
        task_id = request.path_params.get("task_id") if status == HTTPStatus.CONFLICT else None
        return error_response(status, message, {"X-Task-Id": task_id} if task_id else None)

    async def domain_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, TaskqError)
        return failure(request, error.status, error.message, error)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        # The front door's catch-all takes any POST path: another method on a path no other
        # route serves is a 404, not the catch-all's 405.
        if error.status_code == HTTPStatus.NOT_FOUND or (
            error.status_code == HTTPStatus.METHOD_NOT_ALLOWED and not served_elsewhere(request)
        ):
            return error_response(404, f"no route {request.method} {request.url.path}")
        return error_response(error.status_code, str(error.detail))

    async def unexpected(request: Request, error: Exception) -> Response:
        logger.exception("unhandled error", exc_info=error)
        return failure(request, HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")

    # Any other POST path: a queue's endpoint (frontdoor.check_endpoint), else 404.
    catch_all = Route("/{path:path}", front_door, methods=["POST"])

    def served_elsewhere(request: Request) -> bool:
        routes = (route for route in request.app.routes if route is not catch_all)
        return any(route.matches(request.scope)[0] is not Match.NONE for route in routes)

    return Starlette(
        routes=[
            Route("/v1/queue/put", put, methods=["POST"]),
            Route("/v1/queue/{task_id}/stream", stream, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            *(Route(path, front_door, methods=["POST"]) for path in sorted(frontdoor.OPENAI_PATHS)),
            catch_all,
        ],
        exception_handlers={TaskqError: domain_error, HTTPException: http_error, Exception: unexpected},
    )


app = create_app()
