"""The worker process: a streaq worker running every registered task, with the app's DB.

It shares settings, database models and logging with the web app, refreshes a
heartbeat key for `vibetuner worker-health`, and leaves redelivery of jobs whose
worker died to streaq's idle timeout (`JOB_IDLE_TIMEOUT`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vibetuner.config import get_settings
from vibetuner.data._mongo import close_db, init_db
from vibetuner.data.models import framework_models
from vibetuner.exceptions import ConfigError
from vibetuner.server._parent_watch import watch_launcher
from vibetuner.tasks._jobs import JobError
from vibetuner.tasks._registry import REGISTRY, TaskSpec, load_app_tasks
from vibetuner.tasks._runner import RetryLater, run_attempt

if TYPE_CHECKING:
    from beanie import Document
    from streaq import Worker

    from vibetuner.config import Settings

logger = logging.getLogger("vibetuner.tasks")

HEARTBEAT_INTERVAL = 5.0
REDELIVERY_SLACK = 3
"""Deliveries beyond the retries, for jobs whose worker died mid-run."""
RESULT_TTL = timedelta(hours=1)


def heartbeat_key(queue: str, worker_id: str = "*") -> str:
    return f"vibetuner:worker:{queue}:{worker_id}"


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def app_models() -> list[type[Document]]:
    """The app's `app.models.MODELS` plus the dead letters, minus framework duplicates."""
    from vibetuner.data.models.dead_job import DeadJob  # beanie: kept off the CLI's startup

    try:
        from app.models import MODELS  # type: ignore[import-not-found]  # the app's, if any
    except ModuleNotFoundError as exc:
        if exc.name not in ("app", "app.models"):
            raise
        MODELS = []
    known = set(framework_models())
    return [m for m in [*MODELS, DeadJob] if m not in known]


def _register(worker: Worker[Any], definition: TaskSpec[Any, Any]) -> None:
    """Wrap a task so streaq retries on our backoff and the runner sees the job id."""
    from streaq import StreaqRetry  # streaq: kept off the CLI's startup

    registered: list[Any] = []

    async def run(*args: Any, **kwargs: Any) -> Any:
        context = registered[0].context
        try:
            return await run_attempt(definition, context.task_id, context.tries, args, kwargs)
        except RetryLater as retry:
            raise StreaqRetry(str(retry), delay=timedelta(seconds=retry.delay)) from retry.cause
        except Exception as exc:
            if _unpicklable(exc):  # the web side could not read the failure back
                raise JobError(JobError.describe(exc)) from exc
            raise

    max_tries = definition.retries + 1 + REDELIVERY_SLACK
    if definition.crontab:
        hard_stop = timedelta(seconds=(definition.timeout or 3600) + 5)
        registered.append(
            worker.cron(
                definition.crontab,
                name=definition.name,
                max_tries=max_tries,
                timeout=hard_stop,
                ttl=RESULT_TTL,
            )(run)
        )
    else:
        registered.append(
            worker.task(name=definition.name, max_tries=max_tries, ttl=RESULT_TTL)(run)
        )


def _unpicklable(exc: BaseException) -> bool:
    """True when pickle (streaq's serializer) cannot rebuild `exc`."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301  our own bytes, just made
    except Exception:
        return True
    return False


async def _heartbeat(url: str, key: str, interval: float) -> None:
    from vibetuner.data._redis_clients import close_client, open_client  # coredis: worker only

    client = open_client(url)
    try:
        while True:
            with contextlib.suppress(Exception):
                await client.set(key, "alive", ex=max(int(interval * 3), 2))
            await asyncio.sleep(interval)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(client.delete([key]))
        await close_client(client)


def build_worker(
    settings: Settings,
    *,
    concurrency: int | None = None,
    idle_timeout: float | None = None,
    grace_period: int | None = None,
    models: Sequence[type[Document]] = (),
    worker_id: str | None = None,
    heartbeat_interval: float = HEARTBEAT_INTERVAL,
) -> Worker[None]:
    """A streaq worker for every registered task; its lifespan opens the database."""
    from streaq import Worker  # streaq: kept off the CLI's startup

    assert settings.redis_url
    redis_url = settings.redis_url
    worker_id = worker_id or default_worker_id()
    key = heartbeat_key(settings.job_queue, worker_id)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        if settings.database_url:
            await init_db(models)
        else:
            logger.warning("DATABASE_URL is not set: dead letters will only be logged")
        beat = asyncio.create_task(_heartbeat(redis_url, key, heartbeat_interval))
        logger.info("worker %s ready: %d tasks on queue %r", worker_id, len(REGISTRY),
                    settings.job_queue)  # fmt: skip
        try:
            yield None
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            await close_db()

    worker: Worker[None] = Worker(
        redis_url=redis_url,
        queue_name=settings.job_queue,
        concurrency=concurrency or settings.worker_concurrency,
        lifespan=lifespan,
        idle_timeout=idle_timeout or float(getattr(settings, "job_idle_timeout", 60.0)),
        grace_period=grace_period if grace_period is not None
        else int(getattr(settings, "worker_grace_period", 30)),
        id=worker_id,
    )  # fmt: skip
    for definition in REGISTRY.values():
        _register(worker, definition)
    return worker


def configure_logging(settings: Settings) -> None:
    """Same level as the web app; leaves handlers alone when the app set its own."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )


def run_worker(
    *,
    concurrency: int | None = None,
    idle_timeout: float | None = None,
    grace_period: int | None = None,
    burst: bool = False,
) -> None:
    """Import the app's tasks from ./src and run jobs until SIGTERM (or, with burst, idle)."""
    src = Path.cwd() / "src"
    if src.is_dir() and str(src) not in sys.path:
        sys.path.insert(0, str(src))
    watch_launcher()
    settings = get_settings()
    configure_logging(settings)
    if not settings.redis_url:
        raise ConfigError(
            "The worker needs REDIS_URL (without it, dev runs jobs inside the web process).",
            fix="Set REDIS_URL=redis://127.0.0.1:6379/0 in the environment or .env.",
        )
    from vibetuner.tasks._builtin import register_scheduled_jobs  # pymongo: off the CLI's startup

    register_scheduled_jobs(settings)

    if not load_app_tasks():
        logger.warning("no `app.tasks` module found from %s; the worker has no tasks", Path.cwd())
    delay = 0.5
    while True:
        worker = build_worker(
            settings, concurrency=concurrency, idle_timeout=idle_timeout,
            grace_period=grace_period, models=app_models(),
        )  # fmt: skip
        worker.burst = burst
        try:
            worker.run_sync()
            return
        except BaseException as exc:
            if not _redis_outage(exc):
                raise
        # Redis went away (restart, failover): wait, then start afresh, which also
        # re-creates streaq's scripts and consumer groups if Redis came back empty.
        logger.warning("Redis is unavailable; the worker reconnects in %.1f s", delay)
        time.sleep(delay)
        delay = min(delay * 2, RECONNECT_MAX_SECONDS)


RECONNECT_MAX_SECONDS = 10.0


def _redis_outage(exc: BaseException) -> bool:
    """A lost or refused Redis connection, possibly wrapped in (nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_redis_outage(inner) for inner in exc.exceptions)
    names = {cls.__name__ for cls in type(exc).__mro__}
    return (
        type(exc).__module__.startswith("coredis")
        and bool(names & {"ConnectionError", "TimeoutError"})
    ) or "Function not found" in str(exc)


def worker_alive(settings: Settings, *, any_host: bool = False) -> bool:
    """True when a worker on this host (or any host) refreshed its heartbeat recently."""
    if not settings.redis_url:
        return False
    pattern = heartbeat_key(settings.job_queue, "*" if any_host else f"{socket.gethostname()}-*")
    from vibetuner.data._redis_clients import run_sync  # coredis: only when REDIS_URL is set

    try:
        return run_sync(_any_key(settings.redis_url, pattern))
    except Exception:
        return False


async def _any_key(url: str, pattern: str) -> bool:
    from coredis import Redis  # coredis: only when REDIS_URL is set

    client = Redis.from_url(url, decode_components=True, connect_timeout=2, stream_timeout=3)
    async with client:
        async for _key in client.scan_iter(match=pattern, count=1000):
            return True
    return False
