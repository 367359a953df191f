"""The framework's own stack: create_app + setup_middleware report request metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from tests.monitoring.conftest import sample
from vibetuner.config import reset_settings

if TYPE_CHECKING:
    from vibetuner.data._embedded import EmbeddedMongo


async def test_framework_stack_reports_route_templates(
    env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo
) -> None:
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse

    from vibetuner.frontend._app import create_app
    from vibetuner.frontend._middleware import setup_middleware

    env.setenv(
        "DATABASE_URL", f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}/monitoring_stack"
    )
    env.setenv("SESSION_BACKEND", "memory")
    reset_settings()
    app = create_app()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> PlainTextResponse:
        return PlainTextResponse(thing_id)

    from fastapi import APIRouter

    shelf = APIRouter(prefix="/shelf")

    @shelf.get("/{item_id}")
    async def item(item_id: str) -> PlainTextResponse:
        return PlainTextResponse(item_id)

    @shelf.get("/new")  # after /{item_id}: shadowed, never matched
    async def new_item() -> PlainTextResponse:
        return PlainTextResponse("new")

    @shelf.get("")
    async def shelf_home(request: Request) -> PlainTextResponse:  # a plain page
        return PlainTextResponse("shelf")

    app.include_router(shelf, prefix="/v1")
    setup_middleware(app)
    installed = {getattr(m.cls, "__name__", "") for m in app.user_middleware}
    assert {"MetricsMiddleware", "RequestIDMiddleware"} <= installed, (
        f"setup_middleware installs the monitoring middleware: {sorted(installed)}"
    )
    before = sample(
        "vibetuner_http_request_duration_seconds_count", method="GET", route="/things/{thing_id}"
    )
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4321))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://localhost") as http,
    ):
        page = await http.get("/things/7")
        await http.get("/v1/shelf/3")
        await http.get("/v1/shelf")
        scrape = await http.get("/metrics")
    assert page.status_code == 200 and len(page.headers["x-request-id"]) == 32
    assert scrape.status_code == 200, "add the /metrics route in create_app"
    assert 'route="/things/{thing_id}"' in scrape.text
    assert 'route="/v1/shelf/{item_id}"' in scrape.text, "included routers: the full template"
    assert 'route="/v1/shelf"' in scrape.text
    assert 'route="/{item_id}"' not in scrape.text and 'route=""' not in scrape.text
    assert (
        sample(
            "vibetuner_http_request_duration_seconds_count",
            method="GET",
            route="/things/{thing_id}",
        )
        == before + 1
    )


async def test_job_metrics_move_when_jobs_run(
    env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo, restore_task_registry: None
) -> None:
    """Without Redis, jobs run in-process: their outcomes and the queue show in /metrics."""
    from vibetuner.frontend._app import create_app
    from vibetuner.frontend._middleware import setup_middleware
    from vibetuner.tasks import JobFailed, task

    @task
    async def doubled(n: int) -> int:
        return n * 2

    @task(retries=1, backoff=0.01)
    async def broken() -> None:
        raise RuntimeError("always")

    env.setenv("DATABASE_URL", f"{vibetuner_mongo.url}_job_metrics")
    env.setenv("SESSION_BACKEND", "memory")
    reset_settings()
    app = create_app()
    setup_middleware(app)
    before = {o: sample("vibetuner_jobs_total", outcome=o) for o in ("ok", "retried", "dead")}
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://localhost") as http,
    ):
        assert await (await doubled.enqueue(21)).result(timeout=5) == 42
        with pytest.raises(JobFailed):
            await (await broken.enqueue()).result(timeout=5)
        scrape = await http.get("/metrics")
    assert scrape.status_code == 200
    assert "vibetuner_job_queue_length" in scrape.text
    after = {o: sample("vibetuner_jobs_total", outcome=o) for o in ("ok", "retried", "dead")}
    assert after["ok"] == before["ok"] + 1
    assert after["retried"] == before["retried"] + 1
    assert after["dead"] == before["dead"] + 1
