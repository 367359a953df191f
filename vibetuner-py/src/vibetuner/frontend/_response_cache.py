"""Cache whole HTML pages for anonymous visitors, as plain ASGI middleware.

Only routes that opt in are cached: paths listed in `pages` (`{"/": 60, "/blog/*": 300}`)
or endpoints marked `@cache_page(ttl)`. A stored page is served with `X-Cache: HIT` to
any visitor without a session; `await invalidate_page("/")` forgets it at once.

Nothing per-user is ever stored or served: requests carrying the session cookie, a
session or a signed-in user bypass the cache, and responses that set a cookie, change
the session, vary on Cookie or say `private`/`no-store` are not stored. The CSP nonce is
per request, so the stored page holds a placeholder where the nonce was and each hit gets
the current request's nonce (its CSP header is added by SecurityHeadersMiddleware, outside).

Each query string (and language, and htmx request or not) is a copy of its own; a path keeps
at most `max_variants` copies per time-to-live window, and serves the rest uncached.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibetuner.config import get_settings
from vibetuner.services.cache import CacheBackend, get_cache_backend

PAGE_PREFIX = "page:"
NONCE_PLACEHOLDER = b"\x00vt-csp-nonce\x00"
MARK = "__vibetuner_cache_page__"
MAX_LEARNED = 10_000
MAX_VARIANTS = 100
"""Copies of one path stored per time-to-live window: each query string, language and htmx
flavour is a copy of its own, and past this many the page is served uncached, so requests
under made-up query strings cannot fill the store (Redis holds sessions and jobs too)."""
COPIES_PREFIX = "page-copies:"
"""`page-copies:<path>`: how many copies of the path were stored in this window
(`invalidate_page` forgets it with them)."""
_VARY_OK = {"hx-request", "hx-boosted", "hx-history-restore-request", "hx-request-type"}
_VARY_OK |= {"accept-encoding", "accept-language"}
_KEY_HEADERS = (b"host", *(name.encode() for name in sorted(_VARY_OK - {"accept-encoding"})))
_KEY_SET = frozenset(_KEY_HEADERS)
_DROP = {b"content-length", b"x-cache", b"age", b"date", b"server"}

F = TypeVar("F", bound=Callable[..., Any])


_marked_routes = 0
"""How many routes opted in with @cache_page; while none has, nothing needs learning."""


def cache_page(ttl: int | None = None) -> Callable[[F], F]:
    """Mark a route so anonymous visitors get a cached copy for `ttl` seconds."""

    def mark(endpoint: F) -> F:
        global _marked_routes
        setattr(endpoint, MARK, ttl)
        _marked_routes += 1
        return endpoint

    return mark


async def invalidate_page(path: str, *, backend: CacheBackend | None = None) -> int:
    """Forget every cached variant of `path` (a trailing `*` forgets everything under it)."""
    store = backend or get_cache_backend()
    if path.endswith("*"):
        await store.clear(COPIES_PREFIX + quote(path[:-1]))
        return await store.clear(PAGE_PREFIX + quote(path[:-1]))
    await store.delete(COPIES_PREFIX + quote(path))
    return await store.clear(PAGE_PREFIX + quote(path) + "|")


class ResponseCacheMiddleware:
    """Serve and store opted-in pages; install it inside the session middleware."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        pages: Mapping[str, int] | None = None,
        backend: CacheBackend | Callable[[], CacheBackend] | None = None,
        cookie_name: str = "vt_session",
        max_body: int = 1 << 20,
        max_variants: int = MAX_VARIANTS,
        default_ttl: Callable[[], int] | None = None,
    ) -> None:
        self.app = app
        pages = dict(pages or {})
        self.exact = {path: ttl for path, ttl in pages.items() if not path.endswith("*")}
        prefixes = [(path[:-1], ttl) for path, ttl in pages.items() if path.endswith("*")]
        self.prefixes = sorted(prefixes, key=lambda item: -len(item[0]))
        self.learned: dict[str, int] = {}
        self._backend = backend
        self.cookie = f"{cookie_name}=".encode()
        self.max_body = max_body
        self.max_variants = max_variants
        self._default_ttl = default_ttl or _settings_ttl

    def backend(self) -> CacheBackend:
        if self._backend is None:
            return get_cache_backend()
        return self._backend() if callable(self._backend) else self._backend

    def ttl_for(self, path: str) -> int | None:
        """Seconds to keep `path`, or None when it has not opted in (or not been seen yet)."""
        if path in self.exact:
            return self.exact[path]
        for prefix, ttl in self.prefixes:
            if path.startswith(prefix):
                return ttl
        return self.learned.get(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if not self._anonymous(scope):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        ttl = self.ttl_for(path)
        if ttl is None and not _marked_routes:
            await self.app(scope, receive, send)  # nothing cacheable here: stay off the path
            return
        key = page_key(scope)
        if key is None:  # a header the key reads came twice: the app reads the first
            await self.app(scope, receive, send)
            return
        if ttl is not None:
            raw = await self.backend().get(key)
            if raw is not None:
                await _serve(raw, scope, send)
                return
        await self._miss(scope, receive, send, key, ttl)

    async def _miss(
        self, scope: Scope, receive: Receive, send: Send, key: str, ttl: int | None
    ) -> None:
        start: dict[str, Any] = {}
        chunks: list[bytes] = []
        state = {"size": 0, "complete": False, "storable": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                state["storable"] = _storable(message)
                if ttl is not None and state["storable"]:
                    message["headers"] = [*message.get("headers", ()), (b"x-cache", b"MISS")]
            elif message["type"] == "http.response.body" and state["storable"]:
                body = message.get("body", b"")
                state["size"] += len(body)
                if state["size"] > self.max_body:
                    state["storable"] = False
                    chunks.clear()
                else:
                    chunks.append(body)
                state["complete"] = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, capture)
        if not (state["storable"] and state["complete"]):
            return  # errors and redirects teach nothing either: `learned` stays for pages
        ttl = ttl if ttl is not None else self._learn(scope)
        if ttl is None or scope["method"] != "GET" or not self._anonymous(scope, after=True):
            return
        body = b"".join(chunks)
        if NONCE_PLACEHOLDER in body:
            return  # the page itself holds the placeholder: a hit would give it the nonce
        backend = self.backend()
        if await backend.incr(COPIES_PREFIX + quote(scope["path"]), ttl) > self.max_variants:
            return  # served, not stored: this path has all the copies it may have for now
        envelope = _envelope(start, body, str(scope.get("csp_nonce", "")))
        await backend.set(key, envelope, ttl)

    def _learn(self, scope: Scope) -> int | None:
        """Remember a path whose endpoint is marked `@cache_page`, so the next request hits."""
        endpoint = scope.get("endpoint")
        if endpoint is None or not hasattr(endpoint, MARK):
            return None
        ttl = getattr(endpoint, MARK) or self._default_ttl()
        if len(self.learned) < MAX_LEARNED:
            self.learned[scope["path"]] = ttl
        return int(ttl)

    def _anonymous(self, scope: Scope, *, after: bool = False) -> bool:
        """No session cookie, no session, nobody signed in (and, after, nothing saved)."""
        for name, value in scope.get("headers", ()):
            if name == b"authorization" or (name == b"cookie" and self.cookie in value):
                return False
        session = scope.get("session")
        if session is not None and (
            getattr(session, "record", None) is not None
            or (after and getattr(session, "modified", False))
        ):
            return False
        user = scope.get("user")
        return not getattr(user, "is_authenticated", False)


def page_key(scope: Scope) -> str | None:
    """`page:<path>|<hash of host, query, language and the headers a page may vary on>`;
    None when one of those headers came twice (the app reads the first, so a key made of
    either could store one visitor's variant under another's)."""
    headers: dict[bytes, bytes] = {}
    for name, value in scope.get("headers", ()):
        if name in _KEY_SET:
            if name in headers:
                return None
            headers[name] = value
    variant = [scope.get("query_string", b"").decode("latin-1")]
    variant += [scope.get("locale", ""), scope.get("locale_prefix", "")]
    variant += [headers.get(name, b"").decode("latin-1") for name in _KEY_HEADERS]
    digest = hashlib.sha256(json.dumps(variant).encode()).hexdigest()[:32]
    return f"{PAGE_PREFIX}{quote(scope['path'])}|{digest}"


def _storable(start: Message) -> bool:
    """A 200 HTML page that is the same for every anonymous visitor."""
    if start.get("status") != 200:
        return False
    headers = [(k.lower(), v.decode("latin-1").lower()) for k, v in start.get("headers", ())]
    values = dict(headers)
    if not values.get(b"content-type", "").startswith("text/html"):
        return False
    if b"set-cookie" in values or b"content-encoding" in values:
        return False
    directives = {d.strip() for d in values.get(b"cache-control", "").split(",")}
    if directives & {"private", "no-store", "no-cache"}:
        return False
    varies = {v.strip() for k, v in headers if k == b"vary" for v in v.split(",")}
    return varies <= _VARY_OK


def _envelope(start: Message, body: bytes, nonce: str) -> bytes:
    """Status, headers and body, with this request's nonce replaced by the placeholder."""
    marker = nonce.encode()
    headers = [
        [
            k.decode("latin-1"),
            (v.replace(marker, NONCE_PLACEHOLDER) if marker else v).decode("latin-1"),
        ]
        for k, v in start.get("headers", ())
        if k.lower() not in _DROP
    ]
    if marker:
        body = body.replace(marker, NONCE_PLACEHOLDER)
    head = json.dumps({"s": start["status"], "h": headers, "t": time.time()}).encode()
    return head + b"\n" + body


async def _serve(raw: bytes, scope: Scope, send: Send) -> None:
    """Replay a stored page with the current request's nonce."""
    head, _, body = raw.partition(b"\n")
    meta = json.loads(head)
    nonce = str(scope.get("csp_nonce", "")).encode()
    body = body.replace(NONCE_PLACEHOLDER, nonce)
    headers = [
        (k.encode("latin-1"), v.encode("latin-1").replace(NONCE_PLACEHOLDER, nonce))
        for k, v in meta["h"]
    ]
    age = max(0, int(time.time() - float(meta.get("t", time.time()))))
    headers += [
        (b"content-length", str(len(body)).encode()),
        (b"x-cache", b"HIT"),
        (b"age", str(age).encode()),
    ]
    await send({"type": "http.response.start", "status": int(meta["s"]), "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def _settings_ttl() -> int:
    return get_settings().cache_default_ttl
