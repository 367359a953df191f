from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from vibetuner.frontend.middleware import HealthPingMiddleware, SecurityHeadersMiddleware


async def _hello(request: object) -> PlainTextResponse:
    return PlainTextResponse("hi", headers={"X-Frame-Options": "SAMEORIGIN"})


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")  # type: ignore[arg-type]


async def test_security_headers_do_not_override_the_route() -> None:
    app = SecurityHeadersMiddleware(Starlette(routes=[Route("/", _hello)]), hsts=True)
    async with _client(app) as client:
        response = await client.get("/")
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["strict-transport-security"].startswith("max-age=63072000")


async def test_ping_is_answered_before_routing() -> None:
    app = HealthPingMiddleware(Starlette(routes=[Route("/", _hello)]))
    async with _client(app) as client:
        ping = await client.get("/health/ping")
        head = await client.head("/health/ping")
        other = await client.get("/")
        post = await client.post("/health/ping")
    assert ping.status_code == 200 and ping.json() == {"status": "ok"}
    assert ping.headers["cache-control"] == "no-store"
    assert head.status_code == 200 and head.content == b""
    assert other.text == "hi"
    assert post.status_code in (404, 405)


def _nonces_after_fork(queue: Any) -> None:
    from vibetuner.frontend.middleware import _nonce

    queue.put([_nonce() for _ in range(3)])


def test_csp_nonces_are_unique_random_and_not_shared_with_forked_workers() -> None:
    import multiprocessing
    import re

    from vibetuner.frontend.middleware import _nonce

    first = _nonce()  # fills the parent's buffer
    nonces = [_nonce() for _ in range(2000)]
    assert len(set(nonces)) == 2000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", nonce) for nonce in nonces)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_nonces_after_fork, args=(queue,))
    child.start()
    theirs = queue.get(timeout=10)
    child.join(10)
    parents_next = [_nonce() for _ in range(3)]
    assert not set(theirs) & ({first, *nonces} | set(parents_next))
