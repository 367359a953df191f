"""A small Starlette app wired with the framework's middleware, for middleware tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.frontend._csrf import csrf_token
from vibetuner.frontend._csrf_middleware import CSRFMiddleware
from vibetuner.frontend._middleware import SecurityHeadersMiddleware
from vibetuner.frontend._session_middleware import SessionMiddleware
from vibetuner.frontend._sessions import session_of
from vibetuner.services.sessions import SessionStore, SessionUser


async def peek(request: Request) -> Response:
    session = session_of(request)
    user = request.scope["user"]
    return JSONResponse(
        {"data": dict(session), "id": session.id, "user": getattr(user, "email", None)}
    )


async def put(request: Request) -> Response:
    session_of(request)["n"] = session_of(request).get("n", 0) + 1
    return PlainTextResponse("ok")


async def token(request: Request) -> Response:
    return PlainTextResponse(csrf_token(request))


async def login(request: Request) -> Response:
    session = session_of(request)
    record = session.rotate()
    record.user_id = "u1"
    session["_user"] = SessionUser(id="u1", email="ada@example.com").to_json()
    return PlainTextResponse("signed in")


async def logout(request: Request) -> Response:
    session_of(request).destroy()
    return PlainTextResponse("bye")


async def echo(request: Request) -> Response:
    form = await request.form()
    return JSONResponse({k: str(v) for k, v in form.items()})


def build(
    store: SessionStore, *, secure: bool = False, max_age: int = 3600,
    anonymous_max_age: int = 3600,
) -> object:  # fmt: skip
    app = Starlette(
        routes=[
            Route("/peek", peek),
            Route("/put", put, methods=["POST", "GET"]),
            Route("/token", token),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/echo", echo, methods=["POST"]),
            Route("/hooks/in", echo, methods=["POST"]),
        ]
    )
    inner = CSRFMiddleware(app, exempt=("/hooks/",))
    sessions = SessionMiddleware(
        inner, store=lambda: store, cookie_name="sid", max_age=max_age,
        anonymous_max_age=anonymous_max_age, secure=secure,
    )  # fmt: skip
    return SecurityHeadersMiddleware(sessions)


@contextlib.asynccontextmanager
async def framework_app(
    settings_env: pytest.MonkeyPatch, mongo: EmbeddedMongo, name: str, **settings: str
) -> AsyncIterator[FastAPI]:
    """The framework's whole app on a database of its own, started and stopped around the
    block, with a fresh session store and blob storage."""
    from vibetuner import create_app
    from vibetuner.frontend._middleware import setup_middleware
    from vibetuner.services.sessions import get_session_store
    from vibetuner.services.storage import set_storage

    settings_env.setenv("DATABASE_URL", f"{mongo.url}_{name}_{uuid.uuid4().hex[:8]}")
    for key, value in settings.items():
        settings_env.setenv(key, value)
    get_session_store.cache_clear()
    set_storage(None)
    application = create_app()
    setup_middleware(application)
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        set_storage(None)
        get_session_store.cache_clear()


def client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def raw_get(app: Any, path: str, **scope: Any) -> list[dict[str, Any]]:
    """The messages `app` sends for a GET built by hand: for bytes httpx would tidy up
    (`./`, `%00` in `raw_path`, repeated headers). After the request, `receive` waits, as a
    server does until the client goes."""
    asked: list[bool] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if asked:
            await asyncio.Event().wait()
        asked.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    request = {"type": "http", "method": "GET", "scheme": "http", "path": path,
               "raw_path": path.encode(), "query_string": b"", "root_path": "",
               "headers": [], "client": ("127.0.0.1", 5000), **scope}  # fmt: skip
    await app(request, receive, send)
    return sent
