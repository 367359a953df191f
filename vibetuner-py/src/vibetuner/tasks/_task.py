"""The `@task` and `@cron` decorators: a registered task that can also enqueue itself."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar, overload

from vibetuner.tasks._cron import parse_crontab
from vibetuner.tasks._jobs import JobHandle
from vibetuner.tasks._queue import enqueue_job
from vibetuner.tasks._registry import TaskSpec, register

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(eq=False)
class TaskDef(TaskSpec[P, R]):
    """A registered task: still callable directly, and enqueued with `.enqueue(...)`."""

    async def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        """Run as soon as a worker (or, in dev without Redis, this process) is free."""
        return await enqueue_job(self.name, args, kwargs)

    async def enqueue_in(
        self, delay: float | timedelta, *args: P.args, **kwargs: P.kwargs
    ) -> JobHandle:
        """Run after a delay, in seconds or as a timedelta."""
        return await enqueue_job(self.name, args, kwargs, delay=delay)

    async def enqueue_at(self, eta: datetime, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        """Run at an aware datetime."""
        return await enqueue_job(self.name, args, kwargs, eta=eta)


def _register(
    fn: Callable[P, Awaitable[R]],
    *,
    name: str | None,
    retries: int,
    backoff: float,
    timeout: float | None,
    crontab: str | None = None,
    keep_args: bool = True,
) -> TaskDef[P, R]:
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"@task needs an async function, got {fn!r}")
    if retries < 0 or backoff < 0:
        raise ValueError("retries and backoff must not be negative")
    if timeout is not None and timeout <= 0:
        raise ValueError("timeout must be positive seconds, or None for no limit")
    task_name = name or f"{fn.__module__}.{fn.__qualname__}"
    definition = TaskDef(fn, task_name, retries, backoff, timeout, crontab, keep_args)
    register(definition)
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
    keep_args: bool = True,
) -> Callable[[Callable[P, Awaitable[R]]], TaskDef[P, R]]: ...


def task(
    fn: Callable[P, Awaitable[R]] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float | None = None,
    keep_args: bool = True,
) -> TaskDef[P, R] | Callable[[Callable[P, Awaitable[R]]], TaskDef[P, R]]:
    """Register an async function as a background job: `@task` or `@task(retries=5)`.

    `timeout` (seconds) cancels an attempt at its next `await` and counts as a failure
    (retried, then a dead letter); code that blocks the event loop cannot be stopped.
    `keep_args=False` is for jobs that carry a secret (a sign-in link, a reset token): the
    dead letter of such a job stores none of its arguments, so it cannot be retried.
    """

    def wrap(inner: Callable[P, Awaitable[R]]) -> TaskDef[P, R]:
        return _register(
            inner, name=name, retries=retries, backoff=backoff, timeout=timeout,
            keep_args=keep_args,
        )  # fmt: skip

    return wrap(fn) if fn is not None else wrap


def cron(
    crontab: str,
    *,
    name: str | None = None,
    retries: int = 0,
    backoff: float = 1.0,
    timeout: float | None = 3600.0,
) -> Callable[[Callable[[], Awaitable[R]]], TaskDef[[], R]]:
    """Run an argument-less async function on a schedule, e.g. `@cron("*/5 * * * *")`.

    Five fields (minute hour day month weekday), or seven with seconds first and a year
    last (`"*/10 * * * * * *"`), in UTC. `vibetuner run worker` fires it once across all
    workers; in dev without REDIS_URL, the web process does. A run still going when the
    next is due makes that one skip.
    """
    parse_crontab(crontab)  # a typo fails at import, with the fix, not when the worker starts

    def wrap(inner: Callable[[], Awaitable[R]]) -> TaskDef[[], R]:
        return _register(
            inner, name=name, retries=retries, backoff=backoff, timeout=timeout, crontab=crontab
        )

    return wrap
