"""Behind a proxy: trust X-Forwarded-* only from TRUSTED_PROXIES, and redirect to HTTPS."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from vibetuner.server._net import in_networks, parse_networks


class ProxyHeadersMiddleware:
    """Take the client address, scheme and host from a trusted proxy's X-Forwarded-* headers."""

    def __init__(self, app: ASGIApp, *, trusted: Iterable[str]) -> None:
        self.app = app
        self.networks = parse_networks(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if (
            scope["type"] in ("http", "websocket")
            and client
            and in_networks(client[0], self.networks)
        ):
            headers = dict(scope["headers"])
            forwarded_for = headers.get(b"x-forwarded-for")
            if forwarded_for:
                hops = [hop.strip() for hop in forwarded_for.decode("latin-1").split(",")]
                # The nearest hop that is not one of our proxies is the real client.
                real = next(
                    (h for h in reversed(hops) if not in_networks(h, self.networks)), hops[0]
                )
                scope["client"] = (real, 0)
            proto = headers.get(b"x-forwarded-proto")
            if proto:
                scheme = proto.decode("latin-1").split(",")[0].strip().lower()
                if scheme in ("http", "https", "ws", "wss"):
                    if scope["type"] == "websocket":
                        scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
                    scope["scheme"] = scheme
            host = headers.get(b"x-forwarded-host")
            if host:
                scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"] + [
                    (b"host", host.split(b",")[0].strip())
                ]
        await self.app(scope, receive, send)


class HTTPSRedirectMiddleware:
    """Send plain-HTTP visitors to HTTPS; health probes stay reachable over HTTP."""

    def __init__(self, app: ASGIApp, *, exempt: tuple[str, ...] = ("/health/",)) -> None:
        self.app = app
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["scheme"] != "http"
            or scope["path"].startswith(self.exempt)
        ):
            await self.app(scope, receive, send)
            return
        host = next((v for k, v in scope["headers"] if k == b"host"), b"").decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        target = f"https://{host.split(':')[0] if host else 'localhost'}{scope['path']}"
        target += f"?{query}" if query else ""
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [(b"location", target.encode()), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})
