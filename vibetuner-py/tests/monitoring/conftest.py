"""A small Starlette app behind the monitoring middleware, and settings for /metrics."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from vibetuner.config import reset_settings
from vibetuner.monitoring import (
    REGISTRY,
    MetricsMiddleware,
    RequestIDMiddleware,
    metrics_endpoint,
    set_active_sessions_source,
    set_queue_length_source,
)

MONITORING_VARS = ("METRICS_ENABLED", "METRICS_TOKEN", "METRICS_ALLOW", "METRICS_PORT", "LOG_LEVEL",
                   "LOG_FORMAT")  # fmt: skip


async def post(request: Request) -> Response:
    return PlainTextResponse(f"post {request.path_params['id']}")


async def boom(request: Request) -> Response:
    raise RuntimeError("boom")


async def in_flight(request: Request) -> Response:
    return PlainTextResponse(str(sample("vibetuner_http_requests_in_flight")))


def build() -> ASGIApp:
    app = Starlette(
        routes=[
            Route("/posts/{id}", post, methods=["GET", "POST"]),
            Route("/boom", boom),
            Route("/in-flight", in_flight),
            Route("/metrics", metrics_endpoint),
        ]
    )
    return RequestIDMiddleware(MetricsMiddleware(app))


def client(app: ASGIApp, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(peer, 4321))
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def env(settings_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Clean settings with no monitoring variables; `env.setenv(...)` then `reset_settings()`."""
    for name in MONITORING_VARS:
        settings_env.delenv(name, raising=False)
    reset_settings()
    yield settings_env
    set_active_sessions_source(None)
    set_queue_length_source(None)
    reset_settings()
