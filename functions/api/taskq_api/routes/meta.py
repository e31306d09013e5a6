"""Routes that need no key: health and the OpenAPI document (spec §3.12)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

router = APIGatewayRouter()


@router.get("/health", summary="Liveness")
def health() -> dict[str, str]:
    return {"status": "ok"}
