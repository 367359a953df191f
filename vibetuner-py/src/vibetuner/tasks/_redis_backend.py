"""The web side of the Redis queue: a streaq client that enqueues and reads results."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from vibetuner.tasks._jobs import JobError, JobFailed, JobStatus

if TYPE_CHECKING:
    from streaq import Worker

MAX_WAITERS = 16


class RedisBackend:
    """Enqueues by task name, so the web process never needs the worker's registry."""

    def __init__(self, redis_url: str, queue_name: str) -> None:
        self._url = redis_url
        self._queue = queue_name
        self._client: asyncio.Future[Worker[Any]] | None = None
        self._owner: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        # Each wait holds a pub/sub connection; many at once exhaust coredis's pool.
        self._waiters = asyncio.Semaphore(MAX_WAITERS)

    async def _connect(self) -> Worker[Any]:
        """One long-lived task owns the connection: coredis must open and close it in one task."""
        if self._client is None:
            self._client = asyncio.get_running_loop().create_future()
            self._owner = asyncio.create_task(self._own(self._client))
        return await asyncio.shield(self._client)

    async def _own(self, ready: asyncio.Future[Worker[Any]]) -> None:
        from streaq import Worker  # streaq: only apps with Redis load it

        client: Worker[Any] = Worker(
            redis_url=self._url, queue_name=self._queue, handle_signals=False
        )
        try:
            async with client:
                ready.set_result(client)
                await self._closing.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    async def enqueue(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], delay: float | None
    ) -> str:
        for attempt in (1, 2):
            client = await self._connect()
            try:
                job = client.enqueue_unsafe(name, *args, **kwargs)
                if delay:
                    job.start(delay=timedelta(seconds=delay))
                await job
                return job.id
            except Exception as exc:
                if attempt == 2 or not _stale_connection(exc):
                    raise
                await self._reset()  # Redis restarted: reconnect, which reloads streaq's scripts
        raise AssertionError("unreachable")

    async def _reset(self) -> None:
        await self.close()
        self._closing = asyncio.Event()

    async def status(self, job_id: str) -> JobStatus:
        from streaq import TaskStatus  # streaq: only apps with Redis load it

        client = await self._connect()
        status = await client.status_by_id(job_id)
        if status == TaskStatus.DONE:
            result = await client.result_by_id(job_id, timeout=timedelta(seconds=5))
            return "done" if result.success else "failed"
        if status == TaskStatus.NOT_FOUND:
            return "missing"
        return "running" if status == TaskStatus.RUNNING else status.value  # type: ignore[return-value]

    async def result(self, job_id: str, timeout: float | None) -> Any:  # noqa: ASYNC109
        client = await self._connect()
        async with asyncio.timeout(timeout), self._waiters:
            outcome = await client.result_by_id(job_id)
        if not outcome.success:
            raise JobFailed(job_id, JobError.describe(outcome.exception))
        return outcome.result

    async def length(self) -> int:
        client = await self._connect()
        return await client.queue_size()

    async def close(self) -> None:
        owner, self._owner, self._client = self._owner, None, None
        if owner is not None:
            self._closing.set()
            await asyncio.gather(owner, return_exceptions=True)


def _stale_connection(exc: BaseException) -> bool:
    """Redis restarted (scripts gone) or dropped the connection: worth one reconnect."""
    if "Function not found" in str(exc) or "NOSCRIPT" in str(exc):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"ConnectionError", "TimeoutError", "ConnectionRefusedError"})
