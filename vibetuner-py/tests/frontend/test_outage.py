"""Redis restarts mid-run: only what needs Redis answers 503, then it recovers by itself."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import RedisServer
from vibetuner import create_app
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.frontend._middleware import setup_middleware
from vibetuner.testing import sign_in_as


@pytest.fixture
async def app(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo, redis_server: RedisServer
) -> AsyncIterator[FastAPI]:
    from vibetuner.data import _redis
    from vibetuner.services.email import reset_email_service
    from vibetuner.services.ratelimit import reset_rate_limit_store
    from vibetuner.services.sessions import get_session_store

    settings_env.setenv("DATABASE_URL", f"{vibetuner_mongo.url}_outage_{uuid.uuid4().hex[:6]}")
    settings_env.setenv("REDIS_URL", redis_server.url)
    settings_env.setenv("EMAIL_PROVIDER", "console")
    await _redis.close_redis()
    get_session_store.cache_clear()
    reset_rate_limit_store()
    reset_email_service()
    application = create_app()
    setup_middleware(application)
    async with application.router.lifespan_context(application):
        yield application
    get_session_store.cache_clear()
    reset_rate_limit_store()


async def test_redis_restart_gives_503_then_recovers(
    app: FastAPI, redis_server: RedisServer
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://t") as member,
        httpx.AsyncClient(transport=transport, base_url="http://t") as visitor,
    ):
        await sign_in_as(member, "redis@example.com")
        assert (await member.get("/account")).status_code == 200
        redis_server.stop()
        page = await member.get("/account", headers={"Accept": "text/html"})
        partial = await member.get("/account", headers={"HX-Request": "true"})
        ready = await visitor.get("/health/ready")
        anonymous = await visitor.get("/no-such-page", headers={"Accept": "text/html"})
        redis_server.start()
        after = await member.get("/account", headers={"Accept": "text/html"})
        ready_again = await visitor.get("/health/ready")
    assert page.status_code == 503 and "unavailable right now" in page.text
    assert page.headers["retry-after"] == "5" and "Traceback" not in page.text
    assert partial.status_code == 503 and "<html" not in partial.text
    assert ready.status_code == 503 and ready.json()["failing"] == ["redis"]
    assert anonymous.status_code == 404, "pages that need no session keep working"
    # Redis came back empty (no persistence here): the old session is gone, not an error.
    assert after.status_code == 303 and after.headers["location"].startswith("/auth/login")
    assert ready_again.status_code == 200


def test_outage_detection_needs_no_driver_import() -> None:
    from pymongo.errors import AutoReconnect, OperationFailure

    from vibetuner.frontend._session_middleware import is_outage

    assert is_outage(AutoReconnect("gone"))
    assert is_outage(ConnectionRefusedError())
    assert not is_outage(OperationFailure("bad query"))
    assert not is_outage(ValueError("bug"))


async def test_a_route_that_meets_a_redis_outage_answers_503(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo, redis_server: RedisServer
) -> None:
    """coredis's own ConnectionError, raised in a route, is a 503 like any outage, though no
    exception handler names it (coredis loads with the first use of Redis, not at startup)."""
    from fastapi import APIRouter

    from vibetuner.data import _redis

    settings_env.setenv("DATABASE_URL", f"{vibetuner_mongo.url}_outage_{uuid.uuid4().hex[:6]}")
    settings_env.setenv("REDIS_URL", redis_server.url)
    await _redis.close_redis()
    router = APIRouter()

    @router.get("/counter")
    async def counter() -> dict[str, int]:
        client = _redis.get_redis()
        assert client is not None
        return {"count": await client.incr("counter")}

    application = create_app(routers=[router])
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        assert (await client.get("/counter")).json() == {"count": 1}
        redis_server.stop()
        try:
            down = await client.get("/counter", headers={"Accept": "text/html"})
        finally:
            redis_server.start()
    assert down.status_code == 503 and "Redis is unavailable right now" in down.text
    assert down.headers["retry-after"] == "5"
