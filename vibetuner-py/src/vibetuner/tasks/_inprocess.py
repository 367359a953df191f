"""The dev fallback without Redis: jobs run as asyncio tasks of the web process.

Same API, retry policy and timeouts as the Redis queue, and `@cron` tasks fire on their
schedule (`start_cron`, from the app's startup), but nothing survives a restart, so
production refuses it (see `check_jobs_config`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from vibetuner.tasks._cron import fire_on_schedule
from vibetuner.tasks._jobs import JobFailed, JobStatus
from vibetuner.tasks._registry import REGISTRY, get_task
from vibetuner.tasks._runner import RetryLater, run_attempt

logger = logging.getLogger("vibetuner.tasks")

KEEP_FINISHED = 1000


@dataclass
class _Job:
    status: JobStatus = "queued"
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class InProcessBackend:
    """Jobs live in this process's event loop; finished ones are kept for `result()`."""

    def __init__(self) -> None:
        self._jobs: dict[str, _Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._cron_started = False

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        runner = asyncio.create_task(work)
        self._tasks.add(runner)
        runner.add_done_callback(self._tasks.discard)

    async def enqueue(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], delay: float | None
    ) -> str:
        definition = get_task(name)
        job_id = uuid.uuid4().hex
        job = _Job(status="scheduled" if delay else "queued")
        job.done.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
        self._jobs[job_id] = job
        self._spawn(self._run(definition.name, job_id, job, args, kwargs, delay))
        logger.info("running job %s %s in-process (no REDIS_URL)", name, job_id)
        self._forget_old()
        return job_id

    async def _run(
        self,
        name: str,
        job_id: str,
        job: _Job,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        delay: float | None,
    ) -> None:
        definition = get_task(name)
        if delay:
            await asyncio.sleep(delay)
        attempt = 1
        while True:
            job.status = "running"
            try:
                result = await run_attempt(definition, job_id, attempt, args, kwargs)
            except RetryLater as retry:
                job.status = "scheduled"
                attempt += 1
                await asyncio.sleep(retry.delay)
                continue
            except Exception as exc:
                job.status = "failed"
                job.done.set_exception(JobFailed(job_id, f"{type(exc).__name__}: {exc}"))
                return
            job.status = "done"
            job.done.set_result(result)
            return

    def start_cron(self) -> list[str]:
        """Fire every registered `@cron` task on its schedule from here; their names."""
        if self._cron_started:
            return []
        self._cron_started = True
        scheduled = [d for d in REGISTRY.values() if d.crontab]
        for definition in scheduled:
            self._spawn(fire_on_schedule(definition, self._start_now))
        return [d.name for d in scheduled]

    async def _start_now(self, name: str) -> asyncio.Future[Any]:
        job_id = await self.enqueue(name, (), {}, None)
        return self._jobs[job_id].done

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.done.done()]
        for key in finished[: max(len(finished) - KEEP_FINISHED, 0)]:
            del self._jobs[key]

    async def status(self, job_id: str) -> JobStatus:
        job = self._jobs.get(job_id)
        return job.status if job else "missing"

    async def result(self, job_id: str, timeout: float | None) -> Any:  # noqa: ASYNC109
        job = self._jobs.get(job_id)
        if job is None:
            raise JobFailed(job_id, "unknown job (in-process jobs do not survive a restart)")
        return await asyncio.wait_for(asyncio.shield(job.done), timeout)

    async def length(self) -> int:
        return sum(1 for job in self._jobs.values() if job.status in ("queued", "scheduled"))

    async def close(self) -> None:
        """Cancel what is still running (cron loops too): a dev restart drops in-flight jobs."""
        for runner in list(self._tasks):
            runner.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
