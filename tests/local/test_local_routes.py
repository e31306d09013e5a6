"""Routes read from template.yaml and matched as API Gateway's REST API matches them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from taskq_api.app import app as api_app
from taskq_api.routes import console_pages
from taskq_local.events import HttpRequest
from taskq_local.routes import RouteMatch, RouteMiss, RouteTable
from taskq_online.app import app as online_app
from tests.local.fakes import KEY, gateway_for

# The template convention of the online function (short-form tags as in template.yaml).
ONLINE_TEMPLATE = """
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      Auth: {DefaultAuthorizer: KeyAuthorizer}
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: taskq_api.app.lambda_handler
      Events:
        Routes: {Type: Api, Properties: {RestApiId: !Ref Api, Path: "/{proxy+}", Method: ANY}}
        Take: {Type: Api, Properties: {RestApiId: !Ref Api, Path: "/v1/queue/take", Method: post}}
        Task: {Type: Api, Properties: {RestApiId: !Ref Api, Path: "/v1/queue/{task_id}", Method: GET}}
        Status:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/status", Method: GET, Auth: {Authorizer: NONE}}
  OnlineFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: run.sh
      Environment: {Variables: {TASKQ_ASGI_APP: "taskq_online.app:app"}}
      Events:
        Put: {Type: Api, Properties: {RestApiId: !Ref Api, Path: "/v1/queue/put", Method: POST}}
        Stream: {Type: Api, Properties: {RestApiId: !Ref Api, Path: "/v1/queue/{task_id}/stream", Method: GET}}
        FrontDoor: {Type: Api, Properties: {RestApiId: !Ref Api, Path: "/{proxy+}", Method: POST}}
  Other:
    Type: AWS::Serverless::Api
    Properties: {StageName: prod}
  OpenFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: open.handler
      Events:
        Open: {Type: Api, Properties: {RestApiId: !Ref Other, Path: "/open/{name}", Method: GET}}
"""


@pytest.fixture
def online(tmp_path: Path) -> RouteTable:
    path = tmp_path / "template.yaml"
    path.write_text(ONLINE_TEMPLATE)
    return RouteTable.from_template(path)


def target(table: RouteTable, method: str, path: str) -> tuple[str, str, dict[str, str] | None]:
    match = table.match(method, path)
    assert isinstance(match, RouteMatch), match
    return match.route.function, match.route.resource, match.path_parameters


def test_the_real_template_makes_only_the_spec_public_routes_keyless():
    table = RouteTable.from_template()
    public = {(r.method, r.resource) for r in table.routes if r.public}
    # spec §3.12, and the console's page and assets, which hold no data (issue 15)
    console = {("GET", "/console"), ("GET", "/console/console.js"), ("GET", "/console/console.css")}
    assert public == {("GET", "/health"), ("GET", "/openapi.json")} | console
    assert target(table, "GET", "/health") == ("ApiFunction", "/health", None)


def _concrete(path: str) -> str:
    """A request path for a route's pattern (`<name>` in powertools, `{name}` in Starlette)."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "T-1", path)


def test_the_real_template_routes_each_route_of_each_function_to_that_function():
    """Every route the API function's router serves reaches it in API Gateway, and every route of
    the online app reaches the online function — none shadowed by another's resource (a parent
    resource without the method, or the front door's POST on /{proxy+})."""
    table = RouteTable.from_template()
    api_routes = [(r.method, r.path) for r in (*api_app._static_routes, *api_app._dynamic_routes)]
    online_routes = [(m, r.path) for r in online_app.routes for m in (r.methods or ()) if m != "HEAD"]
    assert len(api_routes) >= 15 and len(online_routes) >= 3
    for method, path in api_routes:
        # put is the online function's in every mode; the API function's put answers only in-process callers
        expected = "OnlineFunction" if (method, path) == ("POST", "/v1/queue/put") else "ApiFunction"
        assert target(table, method, _concrete(path))[0] == expected, (method, path)
    for method, path in online_routes:
        if path == "/health":  # the adapter's readiness check, never routed by API Gateway
            continue
        assert target(table, method, _concrete(path))[0] == "OnlineFunction", (method, path)
    assert target(table, "POST", "/v1/rerank")[0] == "OnlineFunction"  # the front door's catch-all
    assert target(table, "GET", "/v1/rerank")[0] == "ApiFunction"  # its JSON 404


def test_a_parent_of_declared_resources_is_a_resource_without_methods(online: RouteTable):
    # /v1/queue/put makes /v1/queue and /v1 resources too: a request for them is refused, not
    # handed to ANY /{proxy+}; a path under no declared resource still reaches the greedy one.
    for path in ("/v1/queue", "/v1"):
        miss = online.match("GET", path)
        assert isinstance(miss, RouteMiss) and miss.status == 403 and "no method" in miss.message
    assert target(online, "GET", "/v2/queue")[:2] == ("ApiFunction", "/{proxy+}")


def test_a_static_segment_beats_a_parameter_which_beats_a_greedy_path(online: RouteTable):
    assert target(online, "POST", "/v1/queue/take")[:2] == ("ApiFunction", "/v1/queue/take")
    assert target(online, "GET", "/v1/queue/T-1") == ("ApiFunction", "/v1/queue/{task_id}", {"task_id": "T-1"})
    assert target(online, "GET", "/v1/queue/T-1/stream") == (
        "OnlineFunction",
        "/v1/queue/{task_id}/stream",
        {"task_id": "T-1"},
    )
    assert target(online, "POST", "/v1/queue/put")[:2] == ("OnlineFunction", "/v1/queue/put")
    assert target(online, "GET", "/v1/queue/T-1/result")[:2] == ("ApiFunction", "/{proxy+}")


def test_a_specific_method_beats_any_on_the_same_resource(online: RouteTable):
    assert target(online, "POST", "/v1/chat/completions") == (
        "OnlineFunction",
        "/{proxy+}",
        {"proxy": "v1/chat/completions"},
    )
    assert target(online, "GET", "/v1/chat/completions")[0] == "ApiFunction"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/queue/put"), ("DELETE", "/v1/queue/take"), ("POST", "/v1/queue/T-1/stream"), ("POST", "/status")],
)
def test_a_resource_without_the_method_is_403_with_no_fallback_to_the_greedy_path(online, method, path):
    miss = online.match(method, path)
    assert isinstance(miss, RouteMiss) and miss.status == 403
    assert method in miss.message


def test_no_matching_resource_is_404(online: RouteTable):
    miss = online.match("GET", "/")  # a greedy path needs one segment at least
    assert isinstance(miss, RouteMiss) and miss.status == 404


def test_parameters_are_decoded_and_match_one_segment_the_greedy_one_the_rest(online: RouteTable):
    assert target(online, "GET", "/v1/queue/a%20b%2Fc/stream")[2] == {"task_id": "a b/c"}
    assert target(online, "GET", "/open/x%2Fy")[2] == {"name": "x/y"}
    assert target(online, "GET", "/open/x/y")[:2] == ("ApiFunction", "/{proxy+}")
    assert target(online, "PUT", "/a/b%20c/d")[2] == {"proxy": "a/b c/d"}


def test_head_is_answered_by_the_get_route(online: RouteTable):
    assert target(online, "HEAD", "/v1/queue/T-1")[1] == "/v1/queue/{task_id}"
    assert online.match("HEAD", "/v1/queue/put").status == 403  # type: ignore[union-attr]


def test_public_routes_come_from_the_template(online: RouteTable):
    routes = {(r.method, r.resource): r.public for r in online.routes}
    assert routes[("GET", "/status")] is True  # Auth: {Authorizer: NONE}
    assert routes[("GET", "/open/{name}")] is True  # its API has no default authorizer
    assert routes[("POST", "/v1/queue/put")] is False
    assert ("GET", "/health") not in routes


def test_the_gateway_asks_for_a_key_where_the_template_does(online: RouteTable):
    calls: list[str] = []

    def handler(event, context):
        calls.append(event["resource"])
        return {"statusCode": 200, "body": json.dumps(event["pathParameters"])}

    gateway = gateway_for(handler, online)
    assert gateway.handle(HttpRequest("GET", "/status")).status == 200  # type: ignore[union-attr]
    assert gateway.handle(HttpRequest("GET", "/health")).status == 401  # type: ignore[union-attr]
    answer = gateway.handle(HttpRequest("GET", "/v1/queue/T%201", [("Authorization", f"Bearer {KEY}")]))
    assert json.loads(answer.body) == {"task_id": "T 1"}  # type: ignore[union-attr]
    assert calls == ["/status", "/v1/queue/{task_id}"]


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/", 404), ("PUT", "/status", 403)])
def test_the_gateway_answers_a_miss_with_the_error_body_before_any_function(online, method, path, status):
    calls: list[dict] = []
    answer = gateway_for(lambda event, context: calls.append(event), online).handle(HttpRequest(method, path))
    assert answer.status == status  # type: ignore[union-attr]
    assert json.loads(answer.body)["code"] == status  # type: ignore[union-attr]
    assert calls == []


def test_two_routes_for_the_same_method_and_resource_are_refused(tmp_path: Path):
    path = tmp_path / "template.yaml"
    path.write_text(
        ONLINE_TEMPLATE.replace('Path: "/v1/queue/take", Method: post', 'Path: "/v1/queue/put", Method: POST')
    )
    with pytest.raises(ValueError, match="POST /v1/queue/put"):
        RouteTable.from_template(path)


def test_the_openapi_document_has_exactly_the_routes_api_gateway_serves():
    """Spec §3.12: /openapi.json documents every route — the online function's too — and no route
    that API Gateway would not send anywhere. Not operations of their own: the catch-alls on
    /{proxy+} (the front door's POST for a queue's own endpoint path, the API function's JSON 404
    for anything else), the document itself and the console's pages (HTML, not the JSON API)."""
    from taskq_api.openapi import document

    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path)

    served = {(r.method, shape(r.resource)) for r in RouteTable.from_template().routes}
    served -= {("POST", "/{}"), ("ANY", "/{}"), ("GET", "/openapi.json")}
    served -= {("GET", path) for path in console_pages.PUBLIC_PATHS}  # pages, not the JSON API
    paths = document(api_app)["paths"]
    documented = {(method.upper(), shape(path)) for path, operations in paths.items() for method in operations}
    assert ("GET", "/v1/queue/{}/stream") in documented and ("POST", "/v1/chat/completions") in documented
    assert documented == served
