"""The `@task` and `@cron` decorators, and the registry both backends run tasks from."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

if TYPE_CHECKING:
    from vibetuner.tasks._queue import JobHandle

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("vibetuner.tasks")

APP_TASKS_MODULE = "app.tasks"
REGISTRY: dict[str, TaskDef[Any, Any]] = {}


@dataclass(eq=False)
class TaskDef(Generic[P, R]):
    """A registered task: still callable directly, and enqueued with `.enqueue(...)`."""

    fn: Callable[P, Awaitable[R]]
    name: str
    retries: int = 3
    backoff: float = 1.0
    timeout: float | None = None
    crontab: str | None = None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        return self.fn(*args, **kwargs)

    def retry_delay(self, attempt: int) -> float:
        """Exponential backoff: `backoff`, then twice that, and so on."""
        return float(self.backoff * 2 ** max(attempt - 1, 0))

    async def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        """Run as soon as a worker (or, in dev without Redis, this process) is free."""
        from vibetuner.tasks._queue import enqueue_job

        return await enqueue_job(self.name, args, kwargs)

    async def enqueue_in(
        self, delay: float | timedelta, *args: P.args, **kwargs: P.kwargs
    ) -> JobHandle:
        """Run after a delay, in seconds or as a timedelta."""
        from vibetuner.tasks._queue import enqueue_job

        return await enqueue_job(self.name, args, kwargs, delay=delay)

    async def enqueue_at(self, eta: datetime, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        """Run at an aware datetime."""
        from vibetuner.tasks._queue import enqueue_job

        return await enqueue_job(self.name, args, kwargs, eta=eta)


def _register(
    fn: Callable[P, Awaitable[R]],
    *,
    name: str | None,
    retries: int,
    backoff: float,
    timeout: float | None,
    crontab: str | None = None,
) -> TaskDef[P, R]:
    import inspect

    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"@task needs an async function, got {fn!r}")
    if retries < 0 or backoff < 0:
        raise ValueError("retries and backoff must not be negative")
    task_name = name or f"{fn.__module__}.{fn.__qualname__}"
    existing = REGISTRY.get(task_name)
    if existing is not None and existing.fn is not fn:
        logger.warning("task %s registered again; the newer definition wins", task_name)
    definition = TaskDef(fn, task_name, retries, backoff, timeout, crontab)
    REGISTRY[task_name] = definition
    return definition


@overload
def task(fn: Callable[P, Awaitable[R]], /) -> TaskDef[P, R]: ...


@overload
def task(
    *,
    name: str | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float | None = None,
) -> Callable[[Callable[P, Awaitable[R]]], TaskDef[P, R]]: ...


def task(
    fn: Callable[P, Awaitable[R]] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float | None = None,
) -> TaskDef[P, R] | Callable[[Callable[P, Awaitable[R]]], TaskDef[P, R]]:
    """Register an async function as a background job: `@task` or `@task(retries=5)`."""

    def wrap(inner: Callable[P, Awaitable[R]]) -> TaskDef[P, R]:
        return _register(inner, name=name, retries=retries, backoff=backoff, timeout=timeout)

    return wrap(fn) if fn is not None else wrap


def cron(
    crontab: str,
    *,
    name: str | None = None,
    retries: int = 0,
    backoff: float = 1.0,
    timeout: float | None = 3600.0,
) -> Callable[[Callable[[], Awaitable[R]]], TaskDef[[], R]]:
    """Run an argument-less async function on a schedule, e.g. `@cron("*/5 * * * *")`."""

    def wrap(inner: Callable[[], Awaitable[R]]) -> TaskDef[[], R]:
        return _register(
            inner, name=name, retries=retries, backoff=backoff, timeout=timeout, crontab=crontab
        )

    return wrap


def app_task_names() -> list[str]:
    """Tasks the app defined, leaving out the framework's own (`vibetuner.*`)."""
    return [name for name in REGISTRY if not name.startswith("vibetuner.")]


def get_task(name: str) -> TaskDef[Any, Any]:
    """Find a task by name, importing the framework's and the app's tasks first if needed."""
    if name not in REGISTRY:
        importlib.import_module("vibetuner.tasks._builtin")
        load_app_tasks()
    try:
        return REGISTRY[name]
    except KeyError:
        from vibetuner.exceptions import ConfigError

        raise ConfigError(
            f"No task named {name!r} is registered.",
            fix=f"Define it with @task in src/app/tasks/ (the `{APP_TASKS_MODULE}` module).",
        ) from None


def load_app_tasks(module: str = APP_TASKS_MODULE) -> bool:
    """Import the app's tasks so their decorators run; False when the app has none."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return False
        raise
    return True
