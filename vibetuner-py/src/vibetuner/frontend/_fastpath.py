"""Plain pages skip FastAPI's per-request machinery.

An endpoint that takes only the request (or nothing) and returns a `Response` gains
nothing from dependency solving, body parsing or response validation, yet FastAPI runs
them on every request. At startup, such routes are also registered as plain Starlette
routes ahead of the others, so they are matched and called directly. Anything with a
parameter, a dependency (its own or its router's) or a non-`Response` return type keeps
the full FastAPI path, and so does a route that an earlier route would have shadowed.
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
    has_dependencies: bool
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
                bool(route.dependant.dependencies),
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
                        bool(context.dependant.dependencies),
                        context.path_regex,
                    )
                else:
                    yield getattr(context, "path_regex", None) or _matches_everything()
        else:
            yield getattr(route, "path_regex", None) or _matches_everything()


def _plain_endpoint(candidate: _Candidate) -> Endpoint | None:
    """The endpoint as `f(request)`, when nothing FastAPI does per request applies to it."""
    route = candidate.route
    endpoint = route.endpoint
    if candidate.has_dependencies or "{" in candidate.path or not candidate.methods:
        return None
    if not inspect.iscoroutinefunction(endpoint):
        return None
    try:
        hints = typing.get_type_hints(endpoint)
        parameters = list(inspect.signature(endpoint).parameters.values())
    except Exception:
        return None
    returns = hints.get("return")
    if not (inspect.isclass(returns) and issubclass(returns, Response)):
        return None
    if not parameters:

        async def no_arguments(request: Request) -> Response:
            response: Response = await endpoint()
            return response

        return no_arguments
    if len(parameters) == 1 and hints.get(parameters[0].name) is Request:
        if parameters[0].kind is not inspect.Parameter.KEYWORD_ONLY:
            return typing.cast(Endpoint, endpoint)
        name = parameters[0].name

        async def keyword_request(request: Request) -> Response:
            response: Response = await endpoint(**{name: request})
            return response

        return keyword_request
    return None


def _matches_everything() -> Any:
    import re

    return re.compile("")
