"""Enqueueing: picks the Redis queue or the in-process fallback, and hands back a handle."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from vibetuner.tasks._registry import TaskDef, app_task_names, load_app_tasks

if TYPE_CHECKING:
    from vibetuner.config import Settings

logger = logging.getLogger("vibetuner.tasks")

JobStatus = Literal["queued", "scheduled", "running", "done", "failed", "missing"]


class JobFailed(Exception):
    """The job ran out of attempts; `error` is its last failure."""

    def __init__(self, job_id: str, error: str) -> None:
        super().__init__(f"job {job_id} failed: {error}")
        self.job_id = job_id
        self.error = error


class Backend(Protocol):
    """What enqueueing needs from a queue: the seam between Redis and in-process."""

    async def enqueue(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], delay: float | None
    ) -> str: ...

    async def status(self, job_id: str) -> JobStatus: ...

    async def result(self, job_id: str, timeout: float | None) -> Any: ...  # noqa: ASYNC109

    async def length(self) -> int: ...

    async def close(self) -> None: ...


class JobHandle:
    """An enqueued job: poll `status()` or wait for `result()`."""

    def __init__(self, job_id: str, task: str, backend: Backend) -> None:
        self.id = job_id
        self.task = task
        self._backend = backend

    def __repr__(self) -> str:
        return f"JobHandle(id={self.id!r}, task={self.task!r})"

    async def status(self) -> JobStatus:
        return await self._backend.status(self.id)

    async def result(self, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """The return value; raises JobFailed on failure and TimeoutError on timeout."""
        return await self._backend.result(self.id, timeout)


_backend: Backend | None = None


def get_backend() -> Backend:
    """Redis when REDIS_URL is set; in dev without it, this process runs the jobs."""
    global _backend
    if _backend is None:
        from vibetuner.config import get_settings

        settings = get_settings()
        check_jobs_config(settings, require_tasks=False)
        if settings.redis_url:
            from vibetuner.tasks._redis_backend import RedisBackend

            _backend = RedisBackend(settings.redis_url, settings.job_queue)
        else:
            from vibetuner.tasks._inprocess import InProcessBackend

            logger.info("REDIS_URL is not set: background jobs run inside this process (dev only)")
            _backend = InProcessBackend()
    return _backend


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
        from datetime import UTC

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
    fn: TaskDef[..., Any] | str,
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


def check_jobs_config(settings: Settings, *, require_tasks: bool = True) -> None:
    """In prod, jobs need Redis: refuse to start when the app defines tasks without it."""
    if not settings.is_prod or settings.redis_url:
        return
    if require_tasks:
        load_app_tasks()
        if not app_task_names():
            return
    from vibetuner.exceptions import ConfigError

    raise ConfigError(
        "The app defines background jobs, but REDIS_URL is not set (prod never runs jobs "
        "inside the web process).",
        fix="Set REDIS_URL=redis://host:6379/0 and run `vibetuner run worker` beside the app.",
    )
