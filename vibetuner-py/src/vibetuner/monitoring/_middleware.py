"""Request metrics as plain ASGI: duration by route template, status class, in flight."""

from __future__ import annotations

from collections.abc import Iterable
from time import perf_counter

from prometheus_client import Histogram
from starlette.routing import NoMatchFound
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibetuner.monitoring import _registry as metrics

UNMATCHED = "unmatched"
SKIP_PATHS = ("/health/ping", "/metrics")


class MetricsMiddleware:
    """Time each HTTP request and count its status class.

    The route label is the matched route's template (`/posts/{id}`), read from
    `scope["route"]` after the app ran; never the raw path, which would explode the
    number of series. Install it outside anything that copies the scope.
    """

    def __init__(self, app: ASGIApp, *, skip_paths: Iterable[str] = SKIP_PATHS) -> None:
        self.app = app
        self.skip = frozenset(skip_paths)
        self.durations: dict[tuple[str, str], Histogram] = {}
        self.status = metrics.STATUS_CHILDREN
        self.in_flight = metrics.IN_FLIGHT_COUNT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip:
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app fails before starting a response

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_flight = self.in_flight
        in_flight.value += 1
        start = perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = perf_counter() - start
            in_flight.value -= 1
            self._duration(scope["method"], route_template(scope)).observe(elapsed)
            self.status[status // 100 if 100 <= status < 600 else 0].inc()

    def _duration(self, method: str, template: str) -> Histogram:
        key = (method, template)
        child = self.durations.get(key)
        if child is None:
            if method not in metrics.METHODS:
                method = "other"
            if len(self.durations) >= metrics.LABEL_LIMIT * 4:
                template = "other"
            child = self.durations[key] = metrics.REQUEST_SECONDS.labels(method, template)
        return child


def route_template(scope: Scope) -> str:
    """The matched route's full template. A route's own `path` leaves out the prefixes of
    the routers and mounts around it, so the request's path is split where the route's
    path, filled with the request's parameters, begins: what comes before is a literal
    prefix. A prefix with parameters of its own gives the route's own path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if route is None or not isinstance(path, str) or not path:
        return UNMATCHED
    full = scope["path"]
    params = scope.get("path_params") or {}
    if not params:
        return full[: len(full) - len(path)] + path if full.endswith(path) else path
    try:
        filled = str(route.url_path_for(route.name, **params))
    except NoMatchFound:
        return path
    return full[: len(full) - len(filled)] + path if full.endswith(filled) else path
