"""The console's page and assets through the API handler (issue 15): served without a key,
holding no data, under a strict Content-Security-Policy, and built without HTML parsing of
values (the browser tests in tests/browser/ show a `<script>` in task data as text)."""

from __future__ import annotations

import re

import pytest
from apigw import Caller, LambdaContextStub, build_event, call
from steps import put, register

from taskq_api.app import lambda_handler
from taskq_api.routes.console_pages import ASSETS, PAGES

SCRIPT = (ASSETS / "console.js").read_text()


def fetch(path: str, caller: Caller | None = None) -> tuple[int, dict[str, str], str]:
    """A page as API Gateway gets it: status, headers, body text (not JSON)."""
    answer = lambda_handler(build_event("GET", path, None, caller), LambdaContextStub())
    headers = {k: v[0] for k, v in (answer.get("multiValueHeaders") or {}).items() if v}
    return int(answer["statusCode"]), headers | (answer.get("headers") or {}), answer["body"]


@pytest.mark.parametrize("path", sorted(PAGES))
def test_the_pages_need_no_key_and_carry_a_strict_csp(path: str) -> None:
    status, headers, body = fetch(path)  # no key

    assert status == 200 and body == (ASSETS / PAGES[path][0]).read_text()
    policy = headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy and "*" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Type"] == PAGES[path][1]


def test_the_page_holds_no_data_and_no_inline_script_or_style(admin: Caller, producer: Caller) -> None:
    register(admin, "q")
    task_id = put(producer, "q", data={"secret": "<script>alert(1)</script>"})

    status, headers, html = fetch("/console", admin)  # the same page with or without a key

    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert task_id not in html and "secret" not in html and "alert(1)" not in html
    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="console/console.js" defer>']
    assert "<style" not in html and not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handler
    # while the data routes it reads need the key
    assert call("GET", "/v1/console/queues", None, None).status == 401


def test_the_script_never_parses_values_as_html() -> None:
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in SCRIPT, sink
    assert "textContent" in SCRIPT and "createTextNode" in SCRIPT


def test_the_key_lives_in_session_storage_only() -> None:
    assert "sessionStorage" in SCRIPT
    assert "localStorage" not in SCRIPT and "document.cookie" not in SCRIPT
    assert "Authorization: `Bearer ${key}`" in SCRIPT
