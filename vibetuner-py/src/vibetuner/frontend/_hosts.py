"""Which Host a request may name: the allowed hosts in prod, this machine for dev-only pages."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from vibetuner.frontend._errors import error_response
from vibetuner.server._net import host_allowed, is_loopback_host
from vibetuner.server._sockets import SOCKET_HOST

DEV_PREFIXES = ("/dev/", "/__vibetuner__/")
"""The outbox and live reload live under these; docs and the schema are named by the app."""
DEV_ONLY = "Development pages answer only at localhost or 127.0.0.1 (the Host was {host})."
"""For the developer only (never shown in prod), so in English."""


def is_probe(path: str) -> bool:
    """Health probes and metrics scrapes: they come with a pod's IP as Host, and over HTTP."""
    return path.startswith("/health/") or path == "/metrics"


def _host(scope: Scope) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)


def socket_host(scope: Scope) -> str | None:
    """The Host the connection named, before any X-Forwarded-Host: what "this machine only"
    checks read, since a page rebound to 127.0.0.1 can send that header itself."""
    if SOCKET_HOST in scope:
        raw = scope[SOCKET_HOST]
        return raw.decode("latin-1") if isinstance(raw, bytes) else None
    return _host(scope)


INVALID_HOST = PlainTextResponse("Invalid host header", status_code=400)


class AllowedHostsMiddleware:
    """400 for a Host not in `allowed` (patterns as Starlette's host check takes them),
    probes excepted; a Host seen before is answered from a set, with no parsing."""

    def __init__(self, app: ASGIApp, *, allowed: Iterable[str]) -> None:
        self.app = app
        self.patterns = [pattern.lower() for pattern in allowed]
        self.good: set[bytes] = set()

    def allows(self, raw: bytes | None) -> bool:
        if raw in self.good:
            return True
        if raw is None:
            return False
        host = raw.decode("latin-1")
        name = host[1 : host.find("]")] if host.startswith("[") else host.partition(":")[0]
        if not host_allowed(name, self.patterns):
            return False
        if len(self.good) < 256:  # only allowed names land here: a few, whatever clients send
            self.good.add(raw)
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_probe(scope["path"]):
            await self.app(scope, receive, send)
            return
        raw = next((value for name, value in scope["headers"] if name == b"host"), None)
        if self.allows(raw):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await INVALID_HOST(scope, receive, send)


class DevOnlyMiddleware:
    """Development pages (outbox, live reload, API docs) answer only when Host is this machine.

    A site that re-points its name at 127.0.0.1 (DNS rebinding) could otherwise read them
    from the developer's own browser: it sends its own name as Host, and gets a 403.
    """

    def __init__(self, app: ASGIApp, *, paths: Iterable[str | None] = ()) -> None:
        self.app = app
        self.paths = frozenset(path for path in paths if path)

    def guards(self, path: str) -> bool:
        return path in self.paths or path.startswith(DEV_PREFIXES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] in ("http", "websocket")
            and self.guards(scope["path"])
            and not is_loopback_host(socket_host(scope))
        ):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            message = DEV_ONLY.format(host=socket_host(scope) or "missing")
            response = error_response(Request(scope, receive), 403, messages=[message])
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
