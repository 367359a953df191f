"""The app the slot tests serve, in-process and under `vibetuner run`: the framework's app
and middleware, a live stream, a page, and routes that read bodies."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse

from vibetuner import (
    EventStreamResponse,
    SessionUser,
    broadcast,
    create_app,
    setup_middleware,
    sse_response,
)
from vibetuner.frontend._sessions import session_of

router = APIRouter()


@router.get("/", response_class=PlainTextResponse)
async def home() -> str:
    return "home"


@router.get("/live", response_class=EventStreamResponse)
async def live(request: Request) -> EventStreamResponse:
    return sse_response(request, "news")


@router.post("/test/sign-in", response_class=PlainTextResponse)
async def sign_in(request: Request) -> str:
    """Sign this session in as a new user, as the magic-link route does."""
    session = session_of(request)
    record = session.rotate()
    record.user_id = uuid.uuid4().hex
    session["_user"] = SessionUser(
        id=record.user_id, email=f"{record.user_id}@example.com"
    ).to_json()
    return "signed in"


@router.post("/test/echo", response_class=PlainTextResponse)
async def echo(request: Request) -> str:
    return str(len(await request.body()))


@router.post("/test/publish", response_class=PlainTextResponse)
async def publish(count: int = 1, size: int = 10) -> str:
    """Broadcast `count` events of `size` bytes to every stream."""
    for _ in range(count):
        await broadcast("news", "x" * size)
    return "published"


@router.post("/form", response_class=PlainTextResponse)
async def form(request: Request) -> str:
    """Not exempt from CSRF: the CSRF middleware reads the form before the route runs."""
    return str(len(await request.form()))


def build() -> FastAPI:
    app = create_app(routers=[router])
    setup_middleware(app, csrf_exempt=("/test/",))
    return app


def __getattr__(name: str) -> FastAPI:
    """`app`, built on first use, so in-process tests can build theirs after setting up."""
    if name == "app":
        return build()
    raise AttributeError(name)
