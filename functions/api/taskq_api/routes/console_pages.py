"""The console's HTML, JavaScript and CSS (issue 15). They hold no data, so they need no key:
every piece of data comes from the admin-only JSON routes (docs/design.md "Console")."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

router = APIGatewayRouter()

ASSETS = Path(__file__).resolve().parent.parent / "console_assets"
# No inline script or style anywhere, no asset from elsewhere, no framing, no form posts.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# path -> (file, media type)
PAGES = {
    "/console": ("console.html", "text/html; charset=utf-8"),
    "/console/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/console/console.css": ("console.css", "text/css; charset=utf-8"),
}
PUBLIC_PATHS = frozenset(PAGES)


@cache
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


# The routes return a Response and carry no return annotation: powertools cannot derive a
# response schema from a Response (they are left out of the OpenAPI document, which is JSON's).
def _serve(path: str) -> Response:
    name, media_type = PAGES[path]
    return Response(
        status_code=200,
        content_type=media_type,
        body=_asset(name),
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            # Small and changed only by a deploy; the HTML is never cached so a deploy shows at once.
            "Cache-Control": "no-store" if name.endswith(".html") else "max-age=300",
        },
    )


@router.get("/console", include_in_schema=False)
def console_page():
    return _serve("/console")


@router.get("/console/console.js", include_in_schema=False)
def console_script():
    return _serve("/console/console.js")


@router.get("/console/console.css", include_in_schema=False)
def console_style():
    return _serve("/console/console.css")
