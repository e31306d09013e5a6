"""/v1/keys routes (spec §3.11), admin only."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from taskq.requests import KeyCreateRequest

from ..dependencies import Keys
from .queue import Caller

router = APIGatewayRouter()


@router.post("/v1/keys", summary="Create an API key; its secret is shown only in this answer (admin)", status_code=201)
def create_key(request: KeyCreateRequest, keys: Keys, caller: Caller):
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=keys.create(caller, request))


@router.get("/v1/keys", summary="List the API keys, never their secrets (admin)")
def list_keys(keys: Keys, caller: Caller) -> list[dict[str, Any]]:
    return keys.list(caller)


@router.delete("/v1/keys/<ak>", summary="Revoke an API key (admin)", status_code=204)
def revoke_key(ak: str, keys: Keys, caller: Caller):
    keys.revoke(caller, ak)
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")
