"""The framework's middleware stack, as plain ASGI (no BaseHTTPMiddleware on the hot path)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibetuner.config import get_settings
from vibetuner.frontend.routes.health import PONG

HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")

PING_PATH = "/health/ping"
PING_METHODS = ("GET", "HEAD")
PING_START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(PONG)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ],
}
PING_BODY: Message = {"type": "http.response.body", "body": PONG}
PING_EMPTY: Message = {"type": "http.response.body", "body": b""}


class SecurityHeadersMiddleware:
    """Adds the standard security headers to every HTTP response that has not set them."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if hsts:
            headers.append(HSTS)
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                present = {name.lower() for name, _ in raw}
                raw.extend(h for h in self.headers if h[0] not in present)
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HealthPingMiddleware:
    """Answer `GET /health/ping` before routing: probes hit it constantly and need no app."""

    def __init__(self, app: ASGIApp, *, path: str = PING_PATH) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == self.path
            and scope["method"] in PING_METHODS
        ):
            await send(PING_START)
            await send(PING_BODY if scope["method"] == "GET" else PING_EMPTY)
            return
        await self.app(scope, receive, send)


def setup_middleware(app: FastAPI) -> None:
    """Install the framework's middleware; call once, right after creating the app."""
    settings = get_settings()
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.is_prod)
    app.add_middleware(HealthPingMiddleware)  # outermost: added last
