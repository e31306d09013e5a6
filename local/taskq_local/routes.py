"""The routes of the REST API, read from template.yaml, matched as API Gateway matches them.

Every `Type: Api` event of every function is a route: (method, resource path, function). A
request goes to the most specific resource whose path matches it — segment by segment a static
segment beats a `{param}`, which beats a greedy `{proxy+}` — then to that resource's method, its
`ANY` otherwise. API Gateway never falls back to a less specific resource: a path whose resource
lacks the method is refused, even when `ANY /{proxy+}` would have taken it — and so is a path
that only reaches a parent of declared resources (`/v1/queue/{task_id}` of
`/v1/queue/{task_id}/stream`), which API Gateway creates without methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .template import TEMPLATE, load_template

ANY = "ANY"
# The methods `ANY` stands for; API Gateway refuses any other before routing.
ANY_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")

_STATIC, _PARAM, _GREEDY = 0, 1, 2  # a segment's kind; lower is more specific


@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    resource: str  # the resource path as the template writes it: /v1/queue/{task_id}/stream
    function: str  # the function's logical id
    public: bool  # `Auth: {Authorizer: NONE}`: API Gateway calls no authorizer


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str] | None  # decoded, as API Gateway hands them to the function


@dataclass(frozen=True)
class RouteMiss:
    """No route: 404 when no resource matches the path (API Gateway's own answer is a 403
    "Missing Authentication Token" for both cases unless a gateway response says otherwise; a
    404 says what happened), 403 when the resource has no such method, as API Gateway answers."""

    status: int
    message: str


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


def _kind(segment: str) -> int:
    if segment.startswith("{") and segment.endswith("+}"):
        return _GREEDY
    return _PARAM if segment.startswith("{") and segment.endswith("}") else _STATIC


@dataclass(frozen=True)
class _Resource:
    path: str
    pattern: tuple[str, ...]

    @property
    def specificity(self) -> tuple[int, ...]:
        return tuple(_kind(segment) for segment in self.pattern)

    def match(self, segments: list[str]) -> dict[str, str] | None:
        """The path parameters if the request's (still encoded) segments match, else None."""
        parameters: dict[str, str] = {}
        for index, part in enumerate(self.pattern):
            kind = _kind(part)
            if kind == _GREEDY:  # one segment or more, the rest of the path
                if index >= len(segments):
                    return None
                parameters[part[1:-2]] = unquote("/".join(segments[index:]))
                return parameters
            if index >= len(segments):
                return None
            if kind == _PARAM:
                if not segments[index]:
                    return None
                parameters[part[1:-1]] = unquote(segments[index])
            elif unquote(segments[index]) != part:
                return None
        return parameters if len(segments) == len(self.pattern) else None


class RouteTable:
    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes: dict[str, dict[str, Route]] = {}  # resource -> method -> route
        for route in routes:
            methods = self._routes.setdefault(route.resource, {})
            if route.method in methods:
                raise ValueError(f"two routes for {route.method} {route.resource}")
            methods[route.method] = route
        # A resource's parents are resources too, with no method unless a route gives them one:
        # API Gateway matches them like any other, so a parent shadows a greedy `{proxy+}`.
        for path in list(self._routes):
            segments = _segments(path)
            for end in range(1, len(segments)):
                self._routes.setdefault("/" + "/".join(segments[:end]), {})
        resources = (_Resource(path, tuple(_segments(path))) for path in self._routes)
        # Most specific first: the first resource that matches a path is API Gateway's choice.
        self._resources = sorted(resources, key=lambda r: r.specificity)

    @classmethod
    def from_template(cls, path: Path = TEMPLATE) -> RouteTable:
        return cls(routes_from_template(load_template(path)))

    @property
    def routes(self) -> list[Route]:
        return [route for methods in self._routes.values() for route in methods.values()]

    def match(self, method: str, path: str) -> RouteMatch | RouteMiss:
        """`path` as sent, percent-encoded."""
        segments = _segments(path)
        for resource in self._resources:
            parameters = resource.match(segments)
            if parameters is None:
                continue
            methods = self._routes[resource.path]
            # HEAD is answered as GET where no route names HEAD (RFC 9110 §9.3.2; the server
            # then sends the headers alone): a local convenience API Gateway does not offer.
            fallback = methods.get("GET") if method == "HEAD" else None
            route = methods.get(method) or methods.get(ANY) or fallback
            if route is None:
                has = f" (it has {', '.join(sorted(methods))})" if methods else " (it has no method)"
                return RouteMiss(403, f"no route for {method} {resource.path}{has}")
            return RouteMatch(route, parameters or None)
        return RouteMiss(404, f"no route for {method} {unquote(path)}")


def routes_from_template(template: Mapping[str, Any]) -> list[Route]:
    """Every `Type: Api` event of every function. One table serves them all: the template
    declares one REST API."""
    resources = template.get("Resources", {})
    routes = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            properties = event["Properties"]
            method = str(properties["Method"]).upper()
            method = ANY if method in (ANY, "X-AMAZON-APIGATEWAY-ANY-METHOD") else method
            public = _is_public(properties, resources)
            routes.append(Route(method, properties["Path"], logical_id, public))
    return routes


def _is_public(event: Mapping[str, Any], resources: Mapping[str, Any]) -> bool:
    """No authorizer runs when the event says `Authorizer: NONE`, or names none and its API
    has no default authorizer."""
    authorizer = (event.get("Auth") or {}).get("Authorizer")
    if authorizer is not None:
        return authorizer == "NONE"
    api = resources.get(str(event.get("RestApiId") or ""), {})
    return not ((api.get("Properties") or {}).get("Auth") or {}).get("DefaultAuthorizer")
