"""The app factory: a FastAPI app with the framework's lifespan, routes and error pages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI

from vibetuner.config import get_settings
from vibetuner.data import _mongo, _redis
from vibetuner.exceptions import VibetunerError
from vibetuner.frontend._admin import router as admin_router
from vibetuner.frontend._errors import install_error_handlers
from vibetuner.frontend._hosts import DevOnlyMiddleware
from vibetuner.frontend._openapi import declare_framework_answers
from vibetuner.frontend._routes import (
    account,
    auth,
    avatar,
    blobs,
    debug,
    health,
    language,
    passkeys,
)
from vibetuner.frontend._templating import get_framework_statics, get_statics
from vibetuner.monitoring import configure_logging, metrics_enabled, metrics_endpoint
from vibetuner.rendering import FRAMEWORK_STATIC_PREFIX
from vibetuner.server import _drain
from vibetuner.server._parent_watch import (
    hand_to_launcher,
    leave_interrupts_to_launcher,
    resend_stops_between_runs,
    watch_launcher,
)
from vibetuner.services.broadcast import close_broadcaster
from vibetuner.services.storage import check_storage_config, close_storage
from vibetuner.tasks import check_jobs_config, close_jobs
from vibetuner.tasks._metrics import export_job_metrics
from vibetuner.tasks._queue import start_dev_cron
from vibetuner.tasks._startup import check_startup

if TYPE_CHECKING:
    from beanie import Document

    from vibetuner.config import Settings

logger = logging.getLogger("vibetuner")

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]


OTEL_SWITCHES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
    "FASTAPI_OTEL_AUTO_CONFIGURE",
)


def native_telemetry_default() -> dict[str, bool]:
    """FastAPI's OpenTelemetry hooks stay on when the environment asks for OpenTelemetry;
    otherwise they are off, because FastAPI checks for a configured provider on every
    request. Prometheus metrics (`/metrics`) do not depend on them, and an app can always
    pass its own `telemetry=` to `create_app`."""
    if any(os.environ.get(name) for name in OTEL_SWITCHES):
        return {}
    return {"tracing": False, "metrics": False, "logs": False}


def create_app(
    *,
    routers: Sequence[APIRouter] = (),
    models: Sequence[type[Document]] = (),
    lifespan: Lifespan | None = None,
    **fastapi_options: Any,
) -> FastAPI:
    """Build the app; register the app's Beanie documents in `models`.

    Routes match in the order they are included, as in FastAPI: `routers` are included
    first, then the framework's pages (sign-in, account, health, static files...), then
    whatever the app includes afterwards. So a router in `routers` can replace a framework
    page by declaring the same path. The framework also adds error pages and a lifespan
    that opens the database before the first request and closes it at shutdown.
    `lifespan`, if given, runs inside it, so the database is ready when it starts.
    """
    settings = get_settings()
    check_startup(settings)

    configure_logging(settings)
    if settings.storage_backend == "s3":
        check_storage_config(settings)  # fail at startup, not on the first upload

    @contextlib.asynccontextmanager
    async def framework_lifespan(app: FastAPI) -> AsyncIterator[None]:
        if watch_launcher():
            leave_interrupts_to_launcher()
            resend_stops_between_runs()
        delay = _drain.reset_delay(settings.server_shutdown_timeout, prod=settings.is_prod)
        _drain.start_watching(reset_after=delay, drain=_drain.drain_seconds(settings))
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(_close_services)
            try:
                check_jobs_config(settings)
                await _mongo.init_db(models)
                if metrics_enabled(settings):
                    export_job_metrics()
                    await stack.enter_async_context(_sampling(settings))
                start_dev_cron()
                if settings.metrics_port is not None:
                    from vibetuner.monitoring import serve_metrics_port  # wsgiref: METRICS_PORT

                    stop_metrics = serve_metrics_port(settings, asyncio.get_running_loop())
                    if stop_metrics is not None:
                        stack.callback(stop_metrics)
                if lifespan is not None:
                    await stack.enter_async_context(lifespan(app))
            except VibetunerError as exc:
                # A restart cannot fix it: `vibetuner run` stops and prints it, once.
                if not hand_to_launcher(exc):
                    raise
            yield

    fastapi_options.setdefault("title", settings.project_name)
    fastapi_options.setdefault("telemetry", native_telemetry_default())
    if settings.is_prod:
        fastapi_options.setdefault("docs_url", None)
        fastapi_options.setdefault("redoc_url", None)
        fastapi_options.setdefault("openapi_url", None)
    app = FastAPI(lifespan=framework_lifespan, debug=False, **fastapi_options)
    declare_framework_answers(app)
    app.state.models = list(models)

    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    # The framework's pages share no path, so their order only decides how many routes a
    # request is matched against first: the pages people open most come first.
    app.include_router(account.router)
    app.include_router(auth.router)
    app.include_router(health.router)
    app.include_router(language.router)
    app.include_router(avatar.router)
    app.include_router(passkeys.router)
    app.include_router(admin_router)
    app.include_router(debug.router)  # admins only; 404 for everyone else (see its module)

    app.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    # Before `/static`: the framework's own scripts, under a prefix no app hash looks like.
    app.mount(FRAMEWORK_STATIC_PREFIX, get_framework_statics(), name="framework_static")
    app.mount("/static", get_statics(), name="static")
    if settings.storage_backend == "local":
        app.include_router(blobs.router)
    if settings.live_reload:
        from vibetuner.frontend._routes import livereload, outbox  # jinja2: dev only (live reload)

        app.include_router(livereload.router)
        app.include_router(outbox.router)
    if not settings.is_prod:  # dev pages answer only on this machine (DNS rebinding)
        dev_paths = (app.docs_url, app.redoc_url, app.openapi_url)
        oauth2 = app.swagger_ui_oauth2_redirect_url if app.docs_url else None
        app.add_middleware(DevOnlyMiddleware, paths=(*dev_paths, oauth2))
    return app


async def _close_services() -> None:
    _drain.stop_watching()
    await close_broadcaster()
    await close_jobs()
    await close_storage()
    await _redis.close_redis()
    await _mongo.close_db()


def _sampling(settings: Settings) -> AbstractAsyncContextManager[None]:
    """The worker's background samples: its process figures and pool (when workers share
    /metrics), and dbStats every DB_STATS_INTERVAL."""
    from vibetuner.monitoring import sampling  # prometheus_client: metrics on

    return sampling(interval=settings.metrics_sample_interval, db_stats=_db_stats,
                    db_stats_interval=settings.db_stats_interval)  # fmt: skip


async def _db_stats() -> Mapping[str, Any]:
    return await _mongo.get_database().command("dbStats")
