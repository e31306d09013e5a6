"""Routes that need no key: health and the OpenAPI document (spec §3.12)."""

from __future__ import annotations

import json

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

router = APIGatewayRouter()

PUBLIC_PATHS = frozenset({"/health", "/openapi.json"})


@router.get("/health", summary="Liveness")
def health() -> dict[str, str]:
    return {"status": "ok"}


def serve_openapi(app: APIGatewayRestResolver) -> None:
    """GET /openapi.json: the document of every route behind the API (openapi.py)."""

    @app.get("/openapi.json", include_in_schema=False)
    def openapi():
        from ..openapi import document  # only this route needs it

        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=json.dumps(document(app)))
