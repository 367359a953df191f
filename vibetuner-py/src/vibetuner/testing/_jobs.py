"""Whether a job queue has drained: nothing queued, scheduled or running. A test asserts
"exactly once" only then, when a duplicate run would already have happened, instead of
sleeping for a while and hoping.

`python -m vibetuner.testing._jobs` prints that count for the settings in the environment
(REDIS_URL, JOB_QUEUE), so a test can ask from inside a container.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from vibetuner.config import Settings


def queue_of(env: Mapping[str, str]) -> str:
    """The queue a worker started with `env` reads (JOB_QUEUE, or the default)."""
    default = Settings.model_fields["job_queue"].default
    return env.get("JOB_QUEUE") or str(default)


async def unfinished_jobs(redis_url: str, queue: str) -> int:
    """Jobs queued, scheduled for later, or running on a worker.

    A job stays in its stream until a worker finishes it (its result stored, or its last
    retry failed), and a retry waits in the scheduled set: zero means the worker is idle.
    """
    from streaq import TaskStatus, Worker  # streaq: only tests that watch a queue

    client: Worker[Any] = Worker(redis_url=redis_url, queue_name=queue, handle_signals=False)
    async with client:
        waiting = await client.queue_size(include_scheduled=True)
        running = await client.get_tasks_by_status(TaskStatus.RUNNING, limit=1)
    return waiting + len(running)


def wait_until_drained(redis_url: str, queue: str, *, timeout: float = 60.0) -> None:
    """Return once no job is queued, scheduled or running; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := asyncio.run(unfinished_jobs(redis_url, queue))) > 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"{left} job(s) still unfinished after {timeout:.0f} s")
        time.sleep(0.1)


def main() -> None:
    """Print the unfinished jobs for this environment's REDIS_URL and JOB_QUEUE."""
    settings = Settings()
    if not settings.redis_url:
        raise SystemExit("REDIS_URL is not set: there is no job queue to watch")
    print(asyncio.run(unfinished_jobs(settings.redis_url, settings.job_queue)))


if __name__ == "__main__":
    main()
