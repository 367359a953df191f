"""Pick each request's language, as plain ASGI: URL prefix, the user's choice, cookie, header.

Everything that can be is computed when the middleware is built; Accept-Language answers
are cached per header value. Apps with one language never install it.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import unquote, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibetuner.i18n._catalogs import Catalogs
from vibetuner.i18n._translate import activate

MAX_HEADER = 512
"""Longer Accept-Language headers are cut here: the first entries are the ones that count."""
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def _vary_on_language(send: Send) -> Send:
    async def send_with_vary(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            varies = b",".join(v for k, v in headers if k.lower() == b"vary").lower()
            if b"accept-language" not in varies and b"*" not in varies:
                headers.append((b"vary", b"Accept-Language"))
                message["headers"] = headers
        await send(message)

    return send_with_vary


def _keep_prefix(send: Send, scope: Scope) -> Send:
    """The router's trailing-slash redirect is built from the path without its language
    prefix (`/es/posts/` led to `/posts`): the prefix goes back in front of it."""

    async def send_keeping_prefix(message: Message) -> None:
        if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
            message["headers"] = [
                (k, _prefixed(v, scope) if k == b"location" else v)
                for k, v in message.get("headers", ())
            ]
        await send(message)

    return send_keeping_prefix


def _prefixed(location: bytes, scope: Scope) -> bytes:
    path: str = scope["path"]
    if path == "/":
        return location
    toggled = path[:-1] if path.endswith("/") else path + "/"
    url = urlsplit(location.decode("latin-1"))
    if unquote(url.path) != toggled:
        return location
    return url._replace(path=scope["locale_prefix"] + url.path).geturl().encode("latin-1")


def parse_accept_language(header: str) -> list[str]:
    """The tags of an Accept-Language header, most wanted first (q=0 and `*` dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:MAX_HEADER].split(",")):
        tag, _, params = part.partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        params = params.strip().lower()
        if params.startswith("q="):
            if not _QVALUE.fullmatch(params[2:]):
                continue  # not a qvalue (RFC 9110): `q=nan`, `q=²`, `q=1e3` count for nothing
            quality = float(params[2:])
        if quality > 0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


class LocaleMiddleware:
    """Set `scope["locale"]` (and what `_()` answers in) before the app runs.

    Order: URL prefix (when enabled; the prefix is stripped from the path and kept in
    `scope["locale_prefix"]`), the signed-in user's `locale`, the language cookie,
    Accept-Language (`es-MX` falls back to `es`), then the default language.
    Install it inside the session middleware, which knows the user.

    Unless the URL chose the language, responses say `Vary: Accept-Language`, so shared
    caches keep one copy per language (as Django's LocaleMiddleware does).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        catalogs: Catalogs,
        url_prefix: bool = False,
        cookie_name: str = "vt_lang",
    ) -> None:
        self.app = app
        self.catalogs = catalogs
        self.active = catalogs.active
        self.default = catalogs.default.code
        self.segments = catalogs.segments if url_prefix else {}
        self.cookie = cookie_name.encode("latin-1") + b"="
        self.from_header = functools.lru_cache(maxsize=1024)(self._from_header)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        code = self._from_prefix(scope) if self.segments else None
        if code is not None:
            scope["locale"] = code
            activate(self.active[code])
            await self.app(scope, receive, _keep_prefix(send, scope))
            return
        user = scope.get("user")
        preferred = getattr(user, "locale", None) if user is not None else None
        if preferred:
            code = self.catalogs.match(preferred)
        if code is None:
            code = self._from_headers(scope)
        scope["locale"] = code
        activate(self.active[code])
        await self.app(scope, receive, _vary_on_language(send))

    def _from_prefix(self, scope: Scope) -> str | None:
        path: str = scope["path"]
        end = path.find("/", 1)
        segment = path[1:end] if end != -1 else path[1:]
        code = self.segments.get(segment.lower()) if segment else None
        if code is None:
            return None
        rest = path[end:] if end != -1 else "/"
        scope["path"] = rest
        raw = scope.get("raw_path")
        if raw is not None:
            scope["raw_path"] = raw[len(segment) + 1 :] or b"/"
        scope["locale_prefix"] = "/" + segment
        return code

    def _from_headers(self, scope: Scope) -> str:
        accept: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"cookie" and self.cookie in value:
                code = self._from_cookie(value)
                if code is not None:
                    return code
            elif name == b"accept-language":
                accept = value
        # Cut before the cache: keyed on whole 60 KB headers, it would hold 60 MB.
        return self.from_header(accept[:MAX_HEADER]) if accept else self.default

    def _from_cookie(self, header: bytes) -> str | None:
        for part in header.split(b";"):
            part = part.strip()
            if part.startswith(self.cookie):
                value = part[len(self.cookie) :].strip(b'"')
                return self.catalogs.match(value.decode("latin-1")) if value else None
        return None

    def _from_header(self, header: bytes) -> str:
        for tag in parse_accept_language(header.decode("latin-1")):
            code = self.catalogs.match(tag)
            if code is not None:
                return code
        return self.default
