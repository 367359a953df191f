"""Behind a proxy: trust X-Forwarded-* only from TRUSTED_PROXIES; redirect to BASE_URL."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, quote_from_bytes, unquote, urlsplit

from starlette.datastructures import URL
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibetuner.frontend._hosts import is_probe
from vibetuner.server._net import in_networks, parse_networks
from vibetuner.server._sockets import PEER, SOCKET_HOST


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
                scope.setdefault(PEER, client)  # the socket's own peer (see server._sockets)
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
                scope.setdefault(SOCKET_HOST, headers.get(b"host"))
                scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"] + [
                    (b"host", host.split(b",")[0].strip())
                ]
        await self.app(scope, receive, send)


URL_SAFE = "!$%&'()*+,/:;=?@[]~"
"""Printable ASCII a URL may carry as it is (escapes included); any other byte is escaped."""


class CanonicalOriginMiddleware:
    """In prod, the redirects the framework builds go to BASE_URL, never to the request's Host.

    Plain-HTTP visitors are sent to BASE_URL over HTTPS (with `force_https`; probes stay
    reachable over HTTP). The router's trailing-slash redirect (`/posts/` to `/posts`), which
    Starlette builds from the request's own URL, gets the canonical origin in its Location.
    """

    def __init__(self, app: ASGIApp, *, origin: str, force_https: bool = True) -> None:
        self.app = app
        parts = urlsplit(origin)
        self.scheme, self.netloc = parts.scheme, parts.netloc
        self.force_https = force_https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.force_https and scope["scheme"] == "http" and not is_probe(scope["path"]):
            await self._to_https(scope, send)
            return
        if scope["path"] == "/":
            await self.app(scope, receive, send)
            return

        async def canonical(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                message["headers"] = [
                    (k, self._canonical(v, scope) if k == b"location" else v)
                    for k, v in message.get("headers", ())
                ]
            await send(message)

        await self.app(scope, receive, canonical)

    async def _to_https(self, scope: Scope, send: Send) -> None:
        """The same path and query on BASE_URL over HTTPS, from the bytes that came in: an
        escaped `/` stays escaped, and a control byte is escaped, never put in the header."""
        raw = scope.get("raw_path") or quote(scope["path"]).encode()
        target = f"https://{self.netloc}{quote_from_bytes(raw, safe=URL_SAFE)}"
        if scope.get("query_string"):
            target += "?" + quote_from_bytes(scope["query_string"], safe=URL_SAFE)
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [(b"location", target.encode()), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    def _canonical(self, location: bytes, scope: Scope) -> bytes:
        """`location` on the canonical origin when it is the slash redirect, else unchanged.

        `scope` is read as the router left it: a language prefix is gone from its path, and
        is back in the Location (see `i18n._negotiate._keep_prefix`)."""
        path = scope["path"]
        toggled = {**scope, "path": path.rstrip("/") if path.endswith("/") else path + "/"}
        slash = urlsplit(str(URL(scope=toggled)))
        url = urlsplit(location.decode("latin-1"))
        paths = {unquote(slash.path), unquote(scope.get("locale_prefix", "") + slash.path)}
        same = unquote(url.path) in paths and (url.scheme, url.netloc, unquote(url.query)) == (
            slash.scheme, slash.netloc, unquote(slash.query)
        )  # fmt: skip
        if not same:
            return location
        return url._replace(scheme=self.scheme, netloc=self.netloc).geturl().encode("latin-1")
