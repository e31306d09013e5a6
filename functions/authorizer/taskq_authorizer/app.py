"""Looks up the SHA-256 of the presented key and hands the API function the principal.

API Gateway caches the answer per Authorization header (template.yaml), so the policy allows
every route of the stage: route-level rights are the API function's business, decided from the
principal in the context (`ak`, `role`, `queues` as a JSON list — contexts carry only strings).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from taskq import import_collector
from taskq.clock import SystemClock
from taskq.keys import KeyService
from taskq.store import store_from_env

logger = Logger()


@cache
def key_service() -> KeyService:
    return KeyService(store_from_env(), SystemClock())


def bearer_secret(event: APIGatewayAuthorizerRequestEvent) -> str:
    header = event.headers.get("authorization") or ""  # powertools headers are case-insensitive
    scheme, _, secret = header.partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


@event_source(data_class=APIGatewayAuthorizerRequestEvent)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: APIGatewayAuthorizerRequestEvent, context: LambdaContext) -> dict[str, Any]:
    principal = key_service().authenticate(bearer_secret(event))
    if principal is None:
        logger.info("rejected: no valid key")  # never log the header: it may be a real secret
        raise Exception("Unauthorized")
    logger.info("authorized", extra={"ak": principal.ak, "role": principal.role.value})
    policy = APIGatewayAuthorizerResponse.from_route_arn(
        event.method_arn,
        principal_id=principal.ak,
        context={"ak": principal.ak, "role": principal.role.value, "queues": json.dumps(list(principal.queues))},
    )
    policy.allow_all_routes()
    return policy.asdict()


import_collector.resume()  # the handler module is complete (its package paused the collector)
