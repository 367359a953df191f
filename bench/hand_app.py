"""The hand-written same-stack app: what the demo's `/` takes without Vibetuner.

FastAPI, Jinja2, Beanie on pymongo and coredis (the Redis library Vibetuner uses), with the
database and Redis connected at startup, as someone would write it by hand. It serves the
same page as the demo's `/` from the same template files through raw_app's Jinja
environment, and `/health/ping`. `make bench` holds ours to its cold start and idle RSS.

Run with: BENCH_APP_DIR=demo DATABASE_URL=mongodb://... REDIS_URL=redis://...
    python -m granian --interface asgi bench.hand_app:app
"""

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import ClassVar

from beanie import Document, init_beanie
from coredis import Redis
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel

from bench import raw_app


class User(Document):
    email: str
    name: str = ""

    class Settings:
        name = "hand_users"
        indexes: ClassVar = [IndexModel([("email", ASCENDING)], unique=True)]


class Post(Document):
    content: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    class Settings:
        name = "hand_posts"
        indexes: ClassVar = [[("created_at", DESCENDING)]]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        os.environ["DATABASE_URL"], tz_aware=True
    )
    await init_beanie(
        database=mongo.get_default_database(), document_models=[User, Post]
    )
    async with AsyncExitStack() as stack:
        stack.push_async_callback(mongo.close)
        if os.environ.get("REDIS_URL"):  # make bench always gives one
            redis: Redis[bytes] = Redis.from_url(os.environ["REDIS_URL"])
            await stack.enter_async_context(redis)
            await redis.ping()
            app.state.redis = redis
        yield


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    return await raw_app.index(request)


@app.get("/health/ping")
async def ping() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
