"""Enqueueing: picks the Redis queue or the in-process fallback, and hands back a handle."""

from __future__ import annotations

import importlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from vibetuner.config import Settings, get_settings
from vibetuner.exceptions import ConfigError, VibetunerError
from vibetuner.tasks._inprocess import InProcessBackend
from vibetuner.tasks._jobs import Backend, JobHandle
from vibetuner.tasks._registry import REGISTRY, TaskSpec, app_task_names, load_app_tasks

logger = logging.getLogger("vibetuner.tasks")

_backend: Backend | None = None


def get_backend() -> Backend:
    """Redis when REDIS_URL is set; in dev without it, this process runs the jobs."""
    global _backend
    if _backend is None:
        settings = get_settings()
        check_jobs_config(settings, require_tasks=False)
        if settings.redis_url:
            from vibetuner.tasks._redis_backend import RedisBackend  # coredis: apps with Redis

            _backend = RedisBackend(settings.redis_url, settings.job_queue)
        else:
            logger.info("REDIS_URL is not set: background jobs run inside this process (dev only)")
            _backend = InProcessBackend()
    return _backend


def start_dev_cron() -> list[str]:
    """In dev without Redis, fire the `@cron` tasks from this process (the app's startup);
    with REDIS_URL the worker fires them, and this does nothing. The names it scheduled."""
    if get_settings().redis_url:
        return []
    importlib.import_module("vibetuner.tasks._builtin")  # the framework's own jobs
    load_app_tasks()
    if not any(definition.crontab for definition in REGISTRY.values()):
        return []  # nothing to fire: leave the queue unopened (prod without jobs needs none)
    backend = get_backend()
    if not isinstance(backend, InProcessBackend):
        return []
    names = backend.start_cron()
    if names:
        logger.info("REDIS_URL is not set: this process fires %d cron job(s) (dev only): %s",
                    len(names), ", ".join(names))  # fmt: skip
    return names


async def close_jobs() -> None:
    """Drop the queue connection (app shutdown; tests switching settings)."""
    global _backend
    backend, _backend = _backend, None
    if backend is not None:
        await backend.close()


def _seconds(delay: float | timedelta | None, eta: datetime | None) -> float | None:
    if delay is not None and eta is not None:
        raise ValueError("pass either delay or eta, not both")
    if eta is not None:
        if eta.tzinfo is None:
            raise ValueError("eta must be timezone-aware")
        return max((eta - datetime.now(UTC)).total_seconds(), 0.0)
    if isinstance(delay, timedelta):
        return delay.total_seconds()
    return delay


async def enqueue_job(
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    delay: float | timedelta | None = None,
    eta: datetime | None = None,
) -> JobHandle:
    """Enqueue a registered task by name; the decorators and `queue()` land here."""
    backend = get_backend()
    job_id = await backend.enqueue(name, args, kwargs, _seconds(delay, eta))
    return JobHandle(job_id, name, backend)


async def queue(
    fn: TaskSpec[..., Any] | str,
    /,
    *args: Any,
    delay: float | timedelta | None = None,
    eta: datetime | None = None,
    **kwargs: Any,
) -> JobHandle:
    """Enqueue `fn(*args, **kwargs)`; `fn` is a task or a task name. `delay`/`eta` schedule it."""
    name = fn if isinstance(fn, str) else fn.name
    return await enqueue_job(name, args, kwargs, delay=delay, eta=eta)


async def queue_length() -> int:
    """Jobs waiting or scheduled (not yet finished): for the monitoring gauge."""
    return await get_backend().length()


async def running_jobs() -> int:
    """Jobs a worker (or, without Redis, this process) is running now: for the debug console."""
    return await get_backend().running()


def jobs_problems(settings: Settings, *, require_tasks: bool = True) -> list[tuple[str, str]]:
    """In prod, jobs need Redis: (what is wrong, the setting that fixes it), when the app
    defines tasks (or, without `require_tasks`, whenever jobs are used) or BACKUP_SCHEDULE is
    set, and REDIS_URL is unset."""
    if not settings.is_prod or settings.redis_url:
        return []
    if settings.backup_schedule:
        return [
            ("BACKUP_SCHEDULE is set, but REDIS_URL is not: scheduled backups run on "
             "`vibetuner run worker`, which needs Redis.",
             "REDIS_URL=redis://host:6379/0")
        ]  # fmt: skip
    if require_tasks:
        load_app_tasks()
        if not app_task_names():
            return []
    return [
        ("The app defines background jobs, but REDIS_URL is not set: prod runs them on "
         "`vibetuner run worker`, never inside the web process.",
         "REDIS_URL=redis://host:6379/0")
    ]  # fmt: skip


def check_jobs_config(settings: Settings, *, require_tasks: bool = True) -> None:
    """Refuse to start prod when its jobs have no Redis (see `jobs_problems`)."""
    problems = jobs_problems(settings, require_tasks=require_tasks)
    if problems:
        raise ConfigError.from_problems(problems)


class NotRetryable(VibetunerError):
    """A dead letter without its arguments (`keep_args=False`), or one already retried."""


async def retry_dead_job(dead_id: str) -> JobHandle:
    """Enqueue a dead letter's job again with the same arguments, as a new job."""
    from bson import ObjectId  # pymongo: kept off startup
    from bson.errors import InvalidId

    from vibetuner.data.models.dead_job import DeadJob  # beanie: kept off startup

    try:
        dead = await DeadJob.get(ObjectId(dead_id))
    except InvalidId:
        dead = None
    if dead is None:
        raise ConfigError(
            f"No dead job with id {dead_id!r}.", fix="List them with `vibetuner jobs dead`."
        )
    if not dead.args_kept:
        raise NotRetryable(
            f"Dead job {dead_id} ({dead.task}) cannot be retried: it carried a secret, so its"
            " arguments were not kept, or they could be kept only as text.",
            fix="Do again what queued it (for a sign-in email: ask for a new link).",
        )
    # Claimed in one update before it is queued: two retries at once (a double click, the
    # console and the CLI) queue it once, and the other is told it already went.
    letters, claimed_at = DeadJob.get_pymongo_collection(), datetime.now(UTC)
    claim = {"_id": dead.id, "retried_at": None}
    if await letters.find_one_and_update(claim, {"$set": {"retried_at": claimed_at}}) is None:
        fresh = await DeadJob.get(dead.id)
        again = fresh.retry_job_id if fresh is not None else None
        raise NotRetryable(
            f"Dead job {dead_id} ({dead.task}) was already retried"
            + (f", as job {again}." if again else "."),
            fix="See how that job went with `vibetuner jobs dead --all`.",
        )
    try:
        handle = await enqueue_job(dead.task, tuple(dead.args), dict(dead.kwargs))
    except BaseException:
        unclaim = {"$set": {"retried_at": None}}
        await letters.update_one({"_id": dead.id, "retried_at": claimed_at}, unclaim)
        raise
    await letters.update_one({"_id": dead.id}, {"$set": {"retry_job_id": handle.id}})
    return handle
