"""The framework's middleware stack, as plain ASGI (no BaseHTTPMiddleware on the hot path)."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterable, Mapping

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibetuner.config import get_settings
from vibetuner.frontend._csrf_middleware import CSRFMiddleware
from vibetuner.frontend._hosts import AllowedHostsMiddleware
from vibetuner.frontend._proxy import CanonicalOriginMiddleware, ProxyHeadersMiddleware
from vibetuner.frontend._request_body import RequestBodyMiddleware
from vibetuner.frontend._response_cache import ResponseCacheMiddleware
from vibetuner.frontend._routes.health import PONG
from vibetuner.frontend._session_middleware import SessionMiddleware
from vibetuner.i18n import install_locale_middleware
from vibetuner.monitoring import RequestIDMiddleware, metrics_enabled
from vibetuner.server._drain import is_draining
from vibetuner.services.sessions import get_session_store

HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")

PING_PATH = "/health/ping"
PING_METHODS = ("GET", "HEAD")


def _ping_start(status: int, body: bytes) -> Message:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    return {"type": "http.response.start", "status": status, "headers": headers}


PING_START = _ping_start(200, PONG)
PING_BODY: Message = {"type": "http.response.body", "body": PONG}
PING_EMPTY: Message = {"type": "http.response.body", "body": b""}


class SecurityHeadersMiddleware:
    """Security headers on every HTTP response, with a fresh CSP nonce per request.

    Templates put the nonce on their scripts (`{{ csp_nonce() }}`); `'strict-dynamic'`
    then trusts what those scripts load, and nothing else runs.
    """

    def __init__(
        self, app: ASGIApp, *, hsts: bool = False, static_origin: str | None = None
    ) -> None:
        self.app = app
        self.csp_head, self.csp_tail = csp_parts(static_origin)
        headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
        ]
        if hsts:
            headers.append(HSTS)
        self.headers = headers
        self.names = frozenset(name for name, _ in headers) | {CSP}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = scope["csp_nonce"] = _nonce()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                # ASGI header names are lower case; most responses set none of ours
                if any(name in self.names for name, _ in raw):
                    present = {name for name, _ in raw}
                    raw.extend(h for h in self.headers if h[0] not in present)
                    if CSP not in present:
                        raw.append((CSP, self.csp_head + nonce.encode() + self.csp_tail))
                else:
                    raw += self.headers
                    raw.append((CSP, self.csp_head + nonce.encode() + self.csp_tail))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


_NONCE_BYTES = 16
_BATCH = 256
_random = bytearray()


def _nonce() -> str:
    """16 bytes from the OS's CSPRNG, fetched 256 nonces at a time (one system call)."""
    global _random
    if not _random:
        _random = bytearray(secrets.token_bytes(_NONCE_BYTES * _BATCH))
    chunk = bytes(_random[-_NONCE_BYTES:])
    del _random[-_NONCE_BYTES:]
    return base64.urlsafe_b64encode(chunk).rstrip(b"=").decode()


def _drop_random() -> None:
    """A forked worker must not hand out nonces its parent already used."""
    _random.clear()


os.register_at_fork(after_in_child=_drop_random)


CSP = b"content-security-policy"


def csp_parts(static_origin: str | None = None) -> tuple[bytes, bytes]:
    """The policy before and after the nonce; STATIC_URL's origin (a CDN) may serve scripts,
    styles, fonts and images. (With 'strict-dynamic', CSP3 browsers go by the nonce alone.)"""
    cdn = f" {static_origin}" if static_origin else ""
    fonts = f"font-src 'self'{cdn}; " if cdn else ""  # without a CDN, default-src says it
    head = "default-src 'self'; script-src 'nonce-"
    tail = (
        f"' 'strict-dynamic'{cdn}; style-src 'self' 'unsafe-inline'{cdn}; "
        f"img-src 'self' data: https:{cdn}; {fonts}"
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    return head.encode(), tail.encode()


def csp_nonce(scope: Scope) -> str:
    """This request's nonce; empty when the security middleware is not installed."""
    return str(scope.get("csp_nonce", ""))


class HealthPingMiddleware:
    """Answer `GET /health/ping` before routing: probes hit it constantly and need no app.

    The ping is liveness: it answers 200 until the process exits, draining or not (readiness,
    `/health/ready`, turns 503 instead). While the server drains, every other response closes
    its connection, so a proxy's keep-alive pool moves on before the listener closes.
    """

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
        if scope["type"] == "http" and is_draining():
            await self.app(scope, receive, _closing(send))
            return
        await self.app(scope, receive, send)


def _closing(send: Send) -> Send:
    """Add `Connection: close`: a proxy must not reuse a connection to a draining server."""

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"connection"]
            message["headers"] = [*headers, (b"connection", b"close")]
        await send(message)

    return send_closing


class HeadAsGetMiddleware:
    """HEAD is GET without the body (RFC 9110), as Django and Rails answer it.

    Starlette routes (plain pages, static files) answer HEAD themselves; FastAPI routes say
    405. When HEAD gets a 405, the request runs again as GET and only the status and the
    headers (Content-Length included) are sent; a streamed body is stopped at its start.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        refused = False

        async def unless_refused(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] == 405:
                refused = True
            if not refused:
                await send(message)

        await self.app(scope, receive, unless_refused)
        if not refused:
            return
        scope["method"] = "GET"
        try:
            await self.app(scope, receive, _headers_only(send))
        except _BodyDropped:
            pass
        finally:
            scope["method"] = "HEAD"


class _BodyDropped(Exception):
    """Raised into a streaming GET handler answering a HEAD request: nothing more to send."""


def _headers_only(send: Send) -> Send:
    ended = False

    async def send_without_body(message: Message) -> None:
        nonlocal ended
        if message["type"] != "http.response.body":
            await send(message)
            return
        if ended:
            raise _BodyDropped
        ended = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        if message.get("more_body", False):
            raise _BodyDropped

    return send_without_body


def setup_middleware(
    app: FastAPI, *, csrf_exempt: Iterable[str] = (), cache_pages: Mapping[str, int] | None = None
) -> None:
    """Install the framework's middleware; call once, right after creating the app.

    `csrf_exempt` lists path prefixes (webhooks), matched segment by segment, that skip the
    CSRF check. `cache_pages` maps paths (or "prefix*") to seconds of anonymous page caching;
    routes can also opt in with `@cache_page(ttl)`.
    Order, outermost first: ping, proxy headers, request id, metrics, security headers,
    allowed hosts, canonical origin (HTTPS redirect), request body bounds, session, locale,
    response cache, CSRF, HEAD as GET, then the app. In prod every redirect the framework
    builds goes to BASE_URL; probes (`/health/*`, `/metrics`) skip the host check and the
    HTTPS redirect.
    """
    settings = get_settings()
    origin = settings.canonical_origin if settings.is_prod else None

    app.add_middleware(HeadAsGetMiddleware)  # innermost: only FastAPI's router refuses HEAD
    app.add_middleware(CSRFMiddleware, exempt=csrf_exempt)
    app.add_middleware(
        ResponseCacheMiddleware, pages=cache_pages, cookie_name=settings.session_cookie_name
    )

    install_locale_middleware(app)  # only with 2+ languages; inside sessions: knows the user
    app.add_middleware(
        SessionMiddleware,
        store=get_session_store,
        cookie_name=settings.session_cookie_name,
        max_age=settings.session_max_age,
        anonymous_max_age=settings.session_anonymous_max_age,
        secure=settings.secure_cookies,
    )
    app.add_middleware(
        RequestBodyMiddleware,
        idle=settings.request_body_idle_timeout,
        total=settings.request_body_timeout,
        max_bytes=settings.max_body_bytes,
        per_client=settings.request_bodies_per_client,
    )
    if origin:
        app.add_middleware(
            CanonicalOriginMiddleware, origin=origin, force_https=settings.force_https
        )
    hosts = settings.hosts()
    if hosts != ["*"]:
        app.add_middleware(AllowedHostsMiddleware, allowed=hosts)
    app.add_middleware(  # on redirects too
        SecurityHeadersMiddleware, hsts=settings.is_prod, static_origin=settings.static_origin
    )

    if metrics_enabled(settings):
        from vibetuner.monitoring import MetricsMiddleware  # prometheus_client: metrics on

        app.add_middleware(MetricsMiddleware)  # outside anything that copies the scope
    app.add_middleware(RequestIDMiddleware)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted=settings.trusted_proxies)
    app.add_middleware(HealthPingMiddleware)  # outermost: added last
