"""Request metrics as plain ASGI: duration by route template, status class, in flight."""

from __future__ import annotations

from collections.abc import Iterable
from time import perf_counter

from prometheus_client import Histogram
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
    """The matched route's full template. FastAPI 0.16x keeps an included router's routes
    with their own path (the router's prefix, not the `include_router` one) and puts the
    include context in `scope["fastapi"]`; older versions copied full paths into the app."""
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str) or not path:
        return UNMATCHED
    details = scope.get("fastapi")
    included = details.get("included_router") if isinstance(details, dict) else None
    prefix = getattr(getattr(included, "include_context", None), "prefix", "")
    return prefix + path if isinstance(prefix, str) else path
