"""create_app end to end, in-process, against real servers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Form
from starlette.responses import HTMLResponse, Response

from tests.conftest import RedisServer
from vibetuner import create_app
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.exceptions import ConfigError
from vibetuner.frontend._middleware import setup_middleware


def _build(**kwargs: object) -> FastAPI:
    app = create_app(**kwargs)  # type: ignore[arg-type]
    setup_middleware(app)

    @app.get("/boom")
    async def boom() -> Response:
        raise RuntimeError("secret internals")

    @app.post("/echo")
    async def echo(name: str = Form(min_length=2)) -> HTMLResponse:
        return HTMLResponse(f"<p>{name}</p>")

    return app


@asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_health_ping_and_ready(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo
) -> None:
    settings_env.setenv("DATABASE_URL", vibetuner_mongo.url)
    async with _client(_build()) as client:
        ping = await client.get("/health/ping")
        ready = await client.get("/health/ready")
    assert ping.status_code == 200 and ping.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"mongodb": True}


async def test_ready_is_503_naming_mongodb_when_it_stops(
    settings_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = EmbeddedMongo(tmp_path / "db")
    settings_env.setenv("DATABASE_URL", server.start())
    try:
        async with _client(_build()) as client:
            assert (await client.get("/health/ready")).status_code == 200
            server.stop()
            response = await client.get("/health/ready")
            assert (await client.get("/health/ping")).status_code == 200
    finally:
        server.stop()
    assert response.status_code == 503
    assert response.json()["failing"] == ["mongodb"]


async def test_ready_checks_redis_when_configured(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo, redis_server: RedisServer
) -> None:
    settings_env.setenv("DATABASE_URL", vibetuner_mongo.url)
    settings_env.setenv("REDIS_URL", redis_server.url)
    async with _client(_build()) as client:
        ok = await client.get("/health/ready")
        redis_server.stop()
        down = await client.get("/health/ready")
    assert ok.status_code == 200
    assert ok.json()["checks"] == {"mongodb": True, "redis": True, "worker": False}
    assert down.status_code == 503 and down.json()["failing"] == ["redis"]


async def test_security_headers(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo
) -> None:
    settings_env.setenv("DATABASE_URL", vibetuner_mongo.url)
    async with _client(_build()) as client:
        response = await client.get("/health/ready")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in response.headers


async def test_error_pages_never_leak_a_traceback(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo
) -> None:
    settings_env.setenv("DATABASE_URL", vibetuner_mongo.url)
    html = {"Accept": "text/html"}
    async with _client(_build()) as client:
        missing_html = await client.get("/nope", headers=html)
        missing_json = await client.get("/nope")
        missing_htmx = await client.get("/nope", headers={"HX-Request": "true"})
        invalid_html = await client.post("/echo", data={"name": "x"}, headers=html)
        invalid_json = await client.post("/echo", data={})
        crash = await client.get("/boom", headers=html)
        crash_json = await client.get("/boom")
    assert missing_html.status_code == 404 and "<!DOCTYPE html>" in missing_html.text
    assert "does not exist" in missing_html.text
    assert missing_json.json() == {"detail": "The page you asked for does not exist."}
    assert missing_htmx.status_code == 404 and "<html" not in missing_htmx.text
    assert invalid_html.status_code == 422 and "Name must be at least 2 characters." in (
        invalid_html.text
    )
    assert invalid_json.status_code == 422
    assert invalid_json.json() == {
        "detail": [{"loc": ["body", "name"], "msg": "Name is required.", "type": "missing"}]
    }, "FastAPI's documented shape (HTTPValidationError), with a readable msg"
    assert crash.status_code == 500 and "secret internals" not in crash.text
    assert "Something went wrong" in crash.text
    assert crash_json.status_code == 500 and "secret internals" not in crash_json.text


async def test_user_lifespan_runs_with_the_database_ready(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo
) -> None:
    from vibetuner.data import _mongo

    settings_env.setenv("DATABASE_URL", vibetuner_mongo.url)
    seen: list[bool] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        seen.append(await _mongo.ping())
        yield

    async with _client(_build(lifespan=lifespan)):
        pass
    assert seen == [True]


def test_production_refuses_to_start_without_mail(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("BASE_URL", "https://app.example.com")
    settings_env.setenv("ENVIRONMENT", "prod")
    settings_env.setenv("SECRET_KEY", "Vq3xN8-kR2wT7zL5mP9cH4jB6sD1fG0y")
    settings_env.setenv("DATABASE_URL", "mongodb://127.0.0.1:1/x")
    with pytest.raises(ConfigError, match="No email provider"):
        create_app()


def test_production_refuses_a_placeholder_secret(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("ENVIRONMENT", "prod")
    settings_env.setenv("SECRET_KEY", "change-me")
    settings_env.setenv("DATABASE_URL", "mongodb://127.0.0.1:1/x")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


async def test_prod_hides_docs_and_sends_hsts(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo, no_app_tasks: None
) -> None:
    settings_env.setenv("ENVIRONMENT", "prod")
    settings_env.setenv("SECRET_KEY", "Vq3xN8-kR2wT7zL5mP9cH4jB6sD1fG0y")
    settings_env.setenv("DATABASE_URL", vibetuner_mongo.url)
    settings_env.setenv("SMTP_HOST", "127.0.0.1")
    settings_env.setenv("BASE_URL", "https://testserver")
    async with _client(_build()) as client:
        plain = await client.get("/docs?x=1")
        client.base_url = httpx.URL("https://testserver")
        docs = await client.get("/docs")
        ready = await client.get("/health/ready")
        reload = await client.get("/__vibetuner__/livereload")
    assert plain.status_code == 308
    assert plain.headers["location"] == "https://testserver/docs?x=1"
    assert docs.status_code == 404
    assert reload.status_code == 404
    assert ready.headers["strict-transport-security"].startswith("max-age=")


async def test_csp_nonce_matches_every_script_tag(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo
) -> None:
    import re

    settings_env.setenv("DATABASE_URL", vibetuner_mongo.url)
    settings_env.setenv("DEBUG", "true")
    async with _client(_build()) as client:
        first = await client.get("/nope", headers={"Accept": "text/html"})
        second = await client.get("/nope", headers={"Accept": "text/html"})
    policy = first.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce and "'strict-dynamic'" in policy and "frame-ancestors 'none'" in policy
    scripts = re.findall(r"<script\b[^>]*>", first.text)
    assert len(scripts) >= 2, "the bundle and the live-reload client"
    assert all(f'nonce="{nonce.group(1)}"' in tag for tag in scripts)
    assert nonce.group(1) not in second.headers["content-security-policy"]


def test_fastapis_opentelemetry_hooks_follow_the_environment(
    settings_env: pytest.MonkeyPatch,
) -> None:
    """Off unless OpenTelemetry is asked for: FastAPI checks for a provider per request."""
    from vibetuner.frontend._app import OTEL_SWITCHES, create_app

    for name in OTEL_SWITCHES:
        settings_env.delenv(name, raising=False)
    assert create_app()._native_telemetry.enabled() is False
    assert create_app()._telemetry["tracing"] is False
    settings_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert create_app()._telemetry["tracing"] is True
    assert create_app(telemetry={"metrics": False})._telemetry["metrics"] is False
