"""Page caching: hits and misses, invalidation, per-user pages never cached, fresh nonces."""

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from tests.conftest import RedisServer
from tests.frontend._apps import client
from vibetuner.frontend._middleware import SecurityHeadersMiddleware
from vibetuner.frontend._response_cache import (
    NONCE_PLACEHOLDER,
    ResponseCacheMiddleware,
    cache_page,
    invalidate_page,
    page_key,
)
from vibetuner.frontend._session_middleware import SessionMiddleware
from vibetuner.frontend._sessions import session_of
from vibetuner.services.cache import CacheBackend, MemoryCache, RedisCache
from vibetuner.services.sessions import MemorySessionStore, SessionUser

calls: dict[str, int] = {}


def _page(request: Request, name: str, **headers: str) -> HTMLResponse:
    calls[name] = calls.get(name, 0) + 1
    nonce = request.scope.get("csp_nonce", "")
    body = f'<html><script nonce="{nonce}">go()</script><p>{name} #{calls[name]}</p></html>'
    return HTMLResponse(body, headers=headers)


def build(backend: CacheBackend) -> Any:
    app = FastAPI()

    @app.get("/")
    async def home(request: Request) -> Response:
        return _page(request, "home", Vary="HX-Request")

    router = APIRouter(prefix="/marked")

    @router.get("/{slug}")
    @cache_page(60)
    async def marked(request: Request, slug: str) -> Response:
        return _page(request, f"marked-{slug}")

    @app.get("/uncached")
    async def uncached(request: Request) -> Response:
        return _page(request, "uncached")

    @app.get("/pages/session")
    async def touches_session(request: Request) -> Response:
        session_of(request)["seen"] = True
        return _page(request, "session")

    @app.get("/pages/cookie")
    async def sets_cookie(request: Request) -> Response:
        response = _page(request, "cookie")
        response.set_cookie("theme", "dark")
        return response

    @app.get("/pages/private")
    async def private(request: Request) -> Response:
        return _page(request, "private", **{"Cache-Control": "private, max-age=60"})

    @app.get("/pages/vary")
    async def vary_cookie(request: Request) -> Response:
        return _page(request, "vary", Vary="Cookie")

    @app.get("/pages/json")
    async def json_page() -> Response:
        return JSONResponse({"n": 1})

    @app.get("/pages/missing")
    async def missing() -> Response:
        return HTMLResponse("no such page", status_code=404)

    app.include_router(router)

    @app.get("/pages/echo")
    async def echo(request: Request) -> Response:
        # What an app reads: the first of a repeated header, as Starlette gives it.
        shown = f"host={request.headers['host']} hx={request.headers.get('hx-request', '')}"
        return HTMLResponse(f"<p>{shown}</p>")

    @app.get("/pages/placeholder")
    async def placeholder() -> Response:
        return HTMLResponse(b"<p>" + NONCE_PLACEHOLDER + b"</p>")

    @router.get("/{slug}/gone")
    @cache_page(60)
    async def gone(slug: str) -> Response:
        return HTMLResponse("gone", status_code=404)

    @app.post("/")
    async def post_home(request: Request) -> Response:
        return _page(request, "post")

    @app.get("/login")
    async def login(request: Request) -> Response:
        session = session_of(request)
        session.rotate().user_id = "u1"
        session["_user"] = SessionUser(id="u1", email="ada@example.com").to_json()
        return HTMLResponse("signed in")

    cached = ResponseCacheMiddleware(
        app, pages={"/": 60, "/pages/*": 60}, backend=backend, cookie_name="sid"
    )
    store = MemorySessionStore()
    sessions = SessionMiddleware(cached, store=lambda: store, cookie_name="sid")
    return SecurityHeadersMiddleware(sessions)


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[CacheBackend]:
    calls.clear()
    if request.param == "memory":
        yield MemoryCache()
        return
    from vibetuner.data._redis_clients import close_client, open_client

    server: RedisServer = request.getfixturevalue("redis_server")
    redis = open_client(server.url)
    yield RedisCache(redis)
    await close_client(redis)


@pytest.fixture
async def http(backend: CacheBackend) -> AsyncIterator[httpx.AsyncClient]:
    async with client(build(backend)) as http:
        yield http


def _nonces(response: httpx.Response) -> tuple[str, str]:
    """The nonce in the page and the one its CSP header allows."""
    body = re.search(r'nonce="([^"]+)"', response.text)
    header = re.search(r"'nonce-([^']+)'", response.headers["content-security-policy"])
    assert body and header
    return body.group(1), header.group(1)


async def test_second_request_is_a_hit_with_its_own_nonce(http: httpx.AsyncClient) -> None:
    first = await http.get("/")
    assert first.headers["x-cache"] == "MISS" and "home #1" in first.text
    second = await http.get("/")
    assert second.headers["x-cache"] == "HIT" and "home #1" in second.text
    assert calls["home"] == 1
    body_nonce, csp_nonce = _nonces(second)
    assert body_nonce == csp_nonce != _nonces(first)[0]
    assert int(second.headers["content-length"]) == len(second.content)
    assert second.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in second.headers


async def test_head_is_served_from_the_cache(http: httpx.AsyncClient) -> None:
    await http.get("/")
    head = await http.head("/")
    assert head.headers["x-cache"] == "HIT" and head.content == b""


async def test_invalidate_page_forgets_every_variant(
    http: httpx.AsyncClient, backend: CacheBackend
) -> None:
    await http.get("/")
    await http.get("/", params={"page": "2"})
    await http.get("/", headers={"HX-Request": "true"})
    assert await invalidate_page("/", backend=backend) == 3
    again = await http.get("/")
    assert again.headers["x-cache"] == "MISS" and "home #4" in again.text


async def test_query_strings_and_htmx_requests_are_separate_entries(
    http: httpx.AsyncClient,
) -> None:
    await http.get("/")
    partial = await http.get("/", headers={"HX-Request": "true"})
    assert partial.headers["x-cache"] == "MISS"
    assert (await http.get("/", headers={"HX-Request": "true"})).headers["x-cache"] == "HIT"
    assert (await http.get("/?q=1")).headers["x-cache"] == "MISS"


async def test_decorated_routes_are_cached_per_path(
    http: httpx.AsyncClient, backend: CacheBackend
) -> None:
    assert "x-cache" not in (await http.get("/marked/a")).headers
    assert (await http.get("/marked/a")).headers["x-cache"] == "HIT"
    assert (await http.get("/marked/b")).text.endswith("marked-b #1</p></html>")
    assert await invalidate_page("/marked/*", backend=backend) == 2
    assert (await http.get("/marked/a")).headers["x-cache"] == "MISS"


async def test_routes_that_did_not_opt_in_are_never_cached(http: httpx.AsyncClient) -> None:
    for _ in range(2):
        assert "x-cache" not in (await http.get("/uncached")).headers
    assert calls["uncached"] == 2


@pytest.mark.parametrize(
    "path", ["/pages/session", "/pages/cookie", "/pages/private", "/pages/vary", "/pages/json"]
)
async def test_responses_that_are_not_for_everyone_are_not_stored(
    http: httpx.AsyncClient, path: str
) -> None:
    first, second = await http.get(path), await http.get(path)
    assert first.headers.get("x-cache") != "HIT" and second.headers.get("x-cache") != "HIT"


async def test_errors_and_posts_are_not_stored(http: httpx.AsyncClient) -> None:
    await http.get("/pages/missing")
    assert (await http.get("/pages/missing")).headers.get("x-cache") != "HIT"
    await http.post("/")
    posted = await http.post("/")
    assert "post #2" in posted.text


async def test_signed_in_users_never_get_or_fill_the_cache(http: httpx.AsyncClient) -> None:
    await http.get("/")  # the anonymous copy
    await http.get("/login")
    assert http.cookies.get("sid")
    mine = await http.get("/")
    assert "x-cache" not in mine.headers and "home #2" in mine.text
    http.cookies.clear()
    anonymous = await http.get("/")
    assert anonymous.headers["x-cache"] == "HIT" and "home #1" in anonymous.text


async def test_a_session_cookie_alone_bypasses_the_cache(http: httpx.AsyncClient) -> None:
    await http.get("/")
    response = await http.get("/", headers={"Cookie": "sid=unknown-session"})
    assert "x-cache" not in response.headers
    response = await http.get("/", headers={"Authorization": "Bearer x"})
    assert "x-cache" not in response.headers


async def test_stored_pages_hold_no_nonce(http: httpx.AsyncClient, backend: CacheBackend) -> None:
    first = await http.get("/")
    nonce = _nonces(first)[0]
    scope = {"path": "/", "query_string": b"", "headers": [(b"host", b"testserver")]}
    key = page_key(scope)
    assert key is not None
    raw = await backend.get(key)
    assert raw is not None and nonce.encode() not in raw


@pytest.mark.parametrize(
    ("name", "first", "second"), [("HX-Request", "true", ""), ("Host", "evil.example", "t")]
)
async def test_a_key_header_sent_twice_neither_fills_nor_reads_the_cache(
    http: httpx.AsyncClient, name: str, first: str, second: str
) -> None:
    """The app reads the first of a repeated header; a key made of the last would store
    an htmx fragment, or another host's page, under every plain visitor's key."""
    doubled = await http.get("/pages/echo", headers=[(name, first), (name, second)])
    assert "x-cache" not in doubled.headers
    plain = await http.get("/pages/echo")
    assert plain.headers["x-cache"] == "MISS" and "evil" not in plain.text
    assert "hx=true" not in plain.text


async def test_a_page_holding_the_nonce_placeholder_is_not_stored(
    http: httpx.AsyncClient,
) -> None:
    """A hit replaces the placeholder with the request's nonce: content that carries it
    (an injected `<script nonce=...>`) must never be stored to get one."""
    await http.get("/pages/placeholder")
    assert (await http.get("/pages/placeholder")).headers.get("x-cache") != "HIT"


async def test_error_pages_of_marked_routes_are_not_learned(backend: CacheBackend) -> None:
    """Junk paths under a `@cache_page` route would fill `learned`, and past its cap no
    new page would be cached."""
    app = build(backend)
    cache = app.app.app
    assert isinstance(cache, ResponseCacheMiddleware)
    async with client(app) as http:
        for n in range(3):
            assert (await http.get(f"/marked/junk{n}/gone")).status_code == 404
        await http.get("/marked/real")
    assert list(cache.learned) == ["/marked/real"]


async def test_made_up_query_strings_cannot_fill_the_store(backend: CacheBackend) -> None:
    """Each query string is a copy of its own: past `max_variants` copies of a path in one
    window, pages are served but not stored (Redis also holds the sessions and jobs)."""
    app = build(backend)
    cache = app.app.app
    assert isinstance(cache, ResponseCacheMiddleware)
    cache.max_variants = 3
    async with client(app) as http:
        for n in range(5):
            assert (await http.get(f"/?q={n}")).status_code == 200
        stored = [(await http.get(f"/?q={n}")).headers["x-cache"] for n in range(5)]
        assert stored == ["HIT", "HIT", "HIT", "MISS", "MISS"]
        assert calls["home"] == 7  # the two served uncached, twice each
        await invalidate_page("/", backend=backend)  # the count goes with the copies
        await http.get("/?q=4")
        assert (await http.get("/?q=4")).headers["x-cache"] == "HIT"


async def test_pages_over_the_size_limit_are_not_stored() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/html")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"x" * 10, "more_body": True})
        await send({"type": "http.response.body", "body": b"y" * 10})

    backend = MemoryCache()
    middleware = ResponseCacheMiddleware(app, pages={"/": 60}, backend=backend, max_body=15)
    async with client(middleware) as http:
        assert (await http.get("/")).text == "x" * 10 + "y" * 10
        assert (await http.get("/")).headers["x-cache"] == "MISS"
    assert await backend.clear() == 0
