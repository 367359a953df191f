"""The framework's own stack: create_app + setup_middleware, once the lead has wired it in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from tests.monitoring.conftest import sample
from vibetuner.config import reset_settings

if TYPE_CHECKING:
    from vibetuner.embedded import EmbeddedMongo


async def test_framework_stack_reports_route_templates(
    env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo
) -> None:
    from starlette.responses import PlainTextResponse

    from vibetuner.frontend.app import create_app
    from vibetuner.frontend.middleware import setup_middleware

    env.setenv(
        "DATABASE_URL", f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}/monitoring_stack"
    )
    env.setenv("SESSION_BACKEND", "memory")
    reset_settings()
    app = create_app()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> PlainTextResponse:
        return PlainTextResponse(thing_id)

    setup_middleware(app)
    installed = {getattr(m.cls, "__name__", "") for m in app.user_middleware}
    if not {"MetricsMiddleware", "RequestIDMiddleware"} <= installed:
        pytest.skip("monitoring middleware is not wired into setup_middleware yet")
    before = sample(
        "vibetuner_http_request_duration_seconds_count", method="GET", route="/things/{thing_id}"
    )
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4321))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
    ):
        page = await http.get("/things/7")
        scrape = await http.get("/metrics")
    assert page.status_code == 200 and len(page.headers["x-request-id"]) == 32
    assert scrape.status_code == 200, "add the /metrics route in create_app"
    assert 'route="/things/{thing_id}"' in scrape.text
    assert (
        sample(
            "vibetuner_http_request_duration_seconds_count",
            method="GET",
            route="/things/{thing_id}",
        )
        == before + 1
    )
