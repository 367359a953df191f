"""Background jobs: `@task`/`@cron` functions run by `vibetuner run worker` on Redis.

```python
from vibetuner.tasks import task, queue

@task(retries=3, backoff=2.0, timeout=60)
async def send_email(user_id: str, template: str) -> None: ...

handle = await send_email.enqueue(user_id, "welcome")   # or: await queue(send_email, ...)
await handle.result(timeout=30)
```

`@cron("*/5 * * * *")` runs an argument-less job on a schedule (UTC). A `timeout` stops an
attempt that runs past it and counts as a failure. Without REDIS_URL in dev, jobs, crons
included, run inside the web process (same API, retries and timeouts). Jobs that fail on
their last attempt become `DeadJob` documents (`vibetuner jobs dead`).
"""

from __future__ import annotations

from vibetuner.tasks._dead import list_dead
from vibetuner.tasks._jobs import JobFailed, JobHandle, JobStatus
from vibetuner.tasks._queue import (
    NotRetryable,
    check_jobs_config,
    close_jobs,
    jobs_problems,
    queue,
    queue_length,
    retry_dead_job,
    running_jobs,
)
from vibetuner.tasks._runner import JobContext, Outcome, current_job, on_job_outcome
from vibetuner.tasks._task import TaskDef, cron, task

__all__ = [
    "JobContext",
    "JobFailed",
    "JobHandle",
    "JobStatus",
    "NotRetryable",
    "Outcome",
    "TaskDef",
    "check_jobs_config",
    "close_jobs",
    "cron",
    "current_job",
    "jobs_problems",
    "list_dead",
    "on_job_outcome",
    "queue",
    "queue_length",
    "retry_dead_job",
    "running_jobs",
    "task",
]
