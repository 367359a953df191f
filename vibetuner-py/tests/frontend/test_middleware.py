from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from vibetuner.frontend._middleware import HealthPingMiddleware, SecurityHeadersMiddleware


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
    from vibetuner.frontend._middleware import _nonce

    queue.put([_nonce() for _ in range(3)])


def test_csp_nonces_are_unique_random_and_not_shared_with_forked_workers() -> None:
    import multiprocessing
    import re

    from vibetuner.frontend._middleware import _nonce

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


def _head_app() -> object:
    import asyncio

    from fastapi import FastAPI
    from starlette.responses import HTMLResponse, PlainTextResponse, StreamingResponse

    from vibetuner.frontend._middleware import HeadAsGetMiddleware

    app = FastAPI()
    stopped: list[str] = []

    @app.get("/page")
    async def page(q: str = "x") -> HTMLResponse:
        return HTMLResponse(f"<p>{q * 10}</p>", headers={"X-Page": "yes"})

    @app.post("/form")
    async def form() -> PlainTextResponse:
        return PlainTextResponse("posted")

    @app.get("/forever")
    async def forever() -> StreamingResponse:
        async def chunks():  # type: ignore[no-untyped-def]
            while True:
                stopped.append("tick")
                yield b"tick\n"
                await asyncio.sleep(0.01)

        return StreamingResponse(chunks(), media_type="text/event-stream")

    app.state.stopped = stopped
    return HeadAsGetMiddleware(app), app


async def test_head_is_get_without_the_body_on_fastapi_routes() -> None:
    import asyncio

    wrapped, app = _head_app()
    transport = httpx.ASGITransport(app=wrapped)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        get = await http.get("/page?q=ab")
        head = await http.head("/page?q=ab")
        post_only = await http.head("/form")
        missing = await http.head("/nowhere")
        stream = await asyncio.wait_for(http.head("/forever"), 5)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
    assert head.headers["x-page"] == "yes" and head.headers["content-type"].startswith("text/html")
    assert post_only.status_code == 405 and post_only.headers["allow"] == "POST"
    assert missing.status_code == 404
    assert stream.status_code == 200 and stream.content == b""
    ticks = len(app.state.stopped)
    await asyncio.sleep(0.1)
    assert ticks == len(app.state.stopped) == 1, "a streamed GET is stopped at its start"


async def test_head_works_through_the_framework_stack(settings_env: pytest.MonkeyPatch) -> None:
    from vibetuner.frontend._app import create_app
    from vibetuner.frontend._middleware import setup_middleware

    settings_env.setenv("SESSION_BACKEND", "memory")
    app = create_app()

    @app.get("/search")
    async def search(q: str = "") -> PlainTextResponse:
        return PlainTextResponse(f"results for {q}")

    setup_middleware(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        head = await http.head("/search?q=vibes")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len("results for vibes"))
    assert "content-security-policy" in head.headers, "the rest of the stack still applies"
