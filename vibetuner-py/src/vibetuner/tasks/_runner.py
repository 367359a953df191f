"""One attempt of a job, shared by the Redis worker and the in-process fallback.

Both backends call `run_attempt`; it decides between success, a retry with backoff
and a dead letter, so retries behave the same with and without Redis.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from vibetuner.tasks._dead import record_dead
from vibetuner.tasks._registry import TaskSpec

logger = logging.getLogger("vibetuner.tasks")

Outcome = Literal["ok", "retried", "dead"]
OutcomeCallback = Callable[[str, Outcome], None]

_callbacks: list[OutcomeCallback] = []
_current: contextvars.ContextVar[JobContext] = contextvars.ContextVar("vibetuner_job")


@dataclass(frozen=True)
class JobContext:
    """What a running job knows about itself: its id is the idempotency key."""

    id: str
    task: str
    attempt: int


class JobTimeout(TimeoutError):
    """An attempt ran past its task's `timeout` and was cancelled."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"stopped after its {seconds:g} s timeout")
        self.seconds = seconds

    def __reduce__(self) -> tuple[type[JobTimeout], tuple[float]]:
        """Pickled by its seconds: the worker hands it to the web side through Redis."""
        return (type(self), (self.seconds,))


class RetryLater(Exception):
    """The attempt failed and the job has retries left; run it again after `delay`."""

    def __init__(self, delay: float, cause: BaseException) -> None:
        super().__init__(f"retry in {delay:.2f}s after {cause!r}")
        self.delay = delay
        self.cause = cause


def current_job() -> JobContext:
    """The running job's id and attempt, for idempotent side effects."""
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("current_job() is only available inside a running job") from None


def on_job_outcome(callback: OutcomeCallback) -> OutcomeCallback:
    """Call `callback(task_name, outcome)` after every attempt; for metrics exporters."""
    _callbacks.append(callback)
    return callback


def _emit(task_name: str, outcome: Outcome) -> None:
    for callback in list(_callbacks):
        try:
            callback(task_name, outcome)
        except Exception:
            logger.exception("job outcome callback %r failed", callback)


async def _call(
    definition: TaskSpec[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The task's coroutine, cancelled at its timeout; the job's own TimeoutErrors pass."""
    if definition.timeout is None:
        return await definition.fn(*args, **kwargs)
    deadline = asyncio.timeout(definition.timeout)
    try:
        async with deadline:
            return await definition.fn(*args, **kwargs)
    except TimeoutError as exc:
        if deadline.expired():
            raise JobTimeout(definition.timeout) from exc
        raise


async def run_attempt(
    definition: TaskSpec[Any, Any],
    job_id: str,
    attempt: int,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Run once; raise RetryLater while retries remain, else record a dead letter and raise."""
    token = _current.set(JobContext(job_id, definition.name, attempt))
    try:
        result = await _call(definition, args, kwargs)
    except Exception as exc:
        if attempt <= definition.retries:
            delay = definition.retry_delay(attempt)
            logger.warning(
                "job %s %s failed (attempt %d): %r; retrying in %.2fs",
                definition.name, job_id, attempt, exc, delay,
            )  # fmt: skip
            _emit(definition.name, "retried")
            raise RetryLater(delay, exc) from exc

        logger.error("job %s %s failed for good after %d attempts", definition.name, job_id,
                     attempt, exc_info=exc)  # fmt: skip
        await record_dead(
            definition.name, job_id, args, kwargs, exc, attempt, keep_args=definition.keep_args
        )
        _emit(definition.name, "dead")
        raise
    finally:
        _current.reset(token)
    _emit(definition.name, "ok")
    return result
