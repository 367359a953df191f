"""The words of the job queue: a job's status, its failure, a backend and a handle."""

from __future__ import annotations

from typing import Any, Literal, Protocol

JobStatus = Literal["queued", "scheduled", "running", "done", "failed", "missing"]


class JobFailed(Exception):
    """The job ran out of attempts; `error` is its last failure."""

    def __init__(self, job_id: str, error: str) -> None:
        super().__init__(f"job {job_id} failed: {error}")
        self.job_id = job_id
        self.error = error


class JobError(Exception):
    """A job's failure as text (`Type: message`), sent when its exception would not unpickle."""

    @classmethod
    def describe(cls, exc: BaseException) -> str:
        """`Type: message` for any exception, without repeating a JobError's prefix."""
        return str(exc) if isinstance(exc, cls) else f"{type(exc).__name__}: {exc}"


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
