"""Plain pages skip FastAPI's per-request machinery.

An endpoint that takes only the request (or nothing) and returns a `Response` gains
nothing from parameter parsing or response validation, yet FastAPI runs them on every
request. The same holds when its only dependencies are `async def f(request)` functions,
such as `require_user`: calling them directly gives the same result. At startup, such
routes are also registered as plain Starlette routes ahead of the others, so they are
matched and called directly. Anything with a path, query, header, cookie or body
parameter, a dependency with its own parameters or dependencies, a sync or `yield`
dependency, or a non-`Response` return type keeps the full FastAPI path, and so does a
route that an earlier route would have shadowed.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class PlainRoute(Route):
    """A Starlette route standing in for an APIRoute; `scope["route"]` names it for metrics."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


@dataclass(frozen=True)
class _Candidate:
    route: APIRoute
    path: str
    methods: frozenset[str]
    dependant: Any  # fastapi.dependencies.models.Dependant
    path_regex: Any


class PlainRoutesMiddleware:
    """Answer plain routes before FastAPI's exception, exit-stack and router layers.

    Installed innermost (inside sessions, CSRF and the rest), it looks up the exact method
    and path among the hoisted routes; anything else goes on to FastAPI as usual. The app's
    exception handlers are put in the scope, as Starlette's ExceptionMiddleware does, so
    an error raised by a plain page gets the same error page.
    """

    def __init__(self, app: ASGIApp, *, fastapi: FastAPI) -> None:
        self.app = app
        self.table = plain_table(fastapi)  # filled when the app starts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        table = self.table
        if scope["type"] == "http" and not scope.get("root_path"):
            route = table.routes.get((scope["method"], scope["path"]))
            if route is not None:
                scope["starlette.exception_handlers"] = table.handlers
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {}
                scope["route"] = route
                await route.app(scope, receive, send)
                return
        await self.app(scope, receive, send)


@dataclass
class PlainTable:
    """The hoisted routes by (method, path), and the app's exception handlers."""

    routes: dict[tuple[str, str], PlainRoute] = field(default_factory=dict)
    handlers: tuple[dict[Any, Any], dict[int, Any]] = ({}, {})


STATE_KEY = "vibetuner_plain_routes"


def plain_table(app: FastAPI) -> PlainTable:
    """The app's table, shared by the middleware and the startup step that fills it."""
    table: PlainTable | None = getattr(app.state, STATE_KEY, None)
    if table is None:
        table = PlainTable()
        setattr(app.state, STATE_KEY, table)
    return table


def _exception_handlers(app: FastAPI) -> tuple[dict[Any, Any], dict[int, Any]]:
    """The handlers Starlette's ExceptionMiddleware would put in the scope for this app."""
    from starlette.middleware.exceptions import ExceptionMiddleware

    handlers = {k: v for k, v in app.exception_handlers.items() if k not in (500, Exception)}
    built = ExceptionMiddleware(app.router, handlers=handlers, debug=app.debug)
    return built._exception_handlers, built._status_handlers


def hoist_plain_routes(app: FastAPI) -> list[PlainRoute]:
    """Put a plain route in front for every eligible endpoint; return what was added."""
    routes = app.router.routes
    earlier: list[Any] = []  # path regexes of everything matched before the candidate
    hoisted: list[PlainRoute] = []
    for item in _effective_routes(routes):
        if isinstance(item, _Candidate):
            endpoint = _plain_endpoint(item)
            if endpoint is not None and not any(r.match(item.path) for r in earlier):
                hoisted.append(
                    PlainRoute(
                        item.path,
                        endpoint,
                        methods=sorted(item.methods),
                        name=item.route.name,
                        include_in_schema=False,
                    )
                )
            earlier.append(item.path_regex)
        elif item is not None:
            earlier.append(item)
    routes[:0] = hoisted
    table = plain_table(app)
    table.routes = {
        (method, route.path): route
        for route in [r for r in routes if isinstance(r, PlainRoute)][::-1]
        for method in route.methods or ()
    }  # reversed: the first route wins a path, as in matching
    table.handlers = _exception_handlers(app)
    return hoisted


def _effective_routes(routes: list[BaseRoute]) -> Iterator[_Candidate | Any]:
    """Every route in match order: candidates for API routes, path regexes for the rest.

    FastAPI before 0.16x copied included routes into the app's list; later versions keep
    each included router and expose `effective_route_contexts()`. Both are handled.
    """
    for route in routes:
        if isinstance(route, APIRoute):
            yield _Candidate(
                route,
                route.path,
                frozenset(route.methods or ()),
                route.dependant,
                route.path_regex,
            )
        elif hasattr(route, "effective_route_contexts"):
            for context in route.effective_route_contexts():
                original = context.original_route
                if isinstance(original, APIRoute) and context.dependant is not None:
                    yield _Candidate(
                        original,
                        context.path_format,
                        frozenset(context.methods or ()),
                        context.dependant,
                        context.path_regex,
                    )
                else:
                    yield getattr(context, "path_regex", None) or _matches_everything()
        else:
            yield getattr(route, "path_regex", None) or _matches_everything()


def _plain_endpoint(candidate: _Candidate) -> Endpoint | None:
    """The endpoint as `f(request)`, when nothing FastAPI does per request applies to it."""
    endpoint = candidate.route.endpoint
    dependant = candidate.dependant
    if "{" in candidate.path or not candidate.methods or not _returns_response(endpoint):
        return None
    if not _request_only(dependant):
        return None
    steps: list[tuple[str | None, Callable[..., Awaitable[Any]], str | None, bool]] = []
    for sub in dependant.dependencies:
        if sub.dependencies or not _request_only(sub) or not _plain_call(sub.call):
            return None
        steps.append((sub.name, sub.call, sub.request_param_name, bool(sub.use_cache)))
    request_name: str | None = dependant.request_param_name
    if not steps and request_name is not None:
        parameters = list(inspect.signature(endpoint).parameters.values())
        if len(parameters) == 1 and parameters[0].kind is not inspect.Parameter.KEYWORD_ONLY:
            return typing.cast(Endpoint, endpoint)  # `f(request)` as it is

    async def resolved(request: Request) -> Response:
        kwargs: dict[str, Any] = {request_name: request} if request_name else {}
        cache: dict[Any, Any] = {}
        for name, call, takes_request, use_cache in steps:
            if use_cache and call in cache:
                value = cache[call]
            elif takes_request:
                value = cache[call] = await call(**{takes_request: request})
            else:
                value = cache[call] = await call()
            if name is not None:
                kwargs[name] = value
        response: Response = await endpoint(**kwargs)
        return response

    return resolved


def _request_only(dependant: Any) -> bool:
    """Nothing for FastAPI to parse: no path, query, header, cookie or body parameters,
    and no special parameter other than the request."""
    return not (
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or getattr(dependant, "own_oauth_scopes", None)
    )


def _plain_call(call: Any) -> bool:
    """An `async def` function (not a generator, class or callable instance)."""
    return inspect.isfunction(call) and inspect.iscoroutinefunction(call)


def _returns_response(endpoint: Callable[..., Any]) -> bool:
    if not inspect.iscoroutinefunction(endpoint):
        return False
    try:
        returns = typing.get_type_hints(endpoint).get("return")
    except Exception:
        return False
    return inspect.isclass(returns) and issubclass(returns, Response)


def _matches_everything() -> Any:
    import re

    return re.compile("")
