"""Dead letters: a job's last failure is stored in MongoDB so it can be read and retried."""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vibetuner.data.models.dead_job import DeadJob

logger = logging.getLogger("vibetuner.tasks")


async def record_dead(
    task: str,
    job_id: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    exc: BaseException,
    attempts: int,
    *,
    keep_args: bool = True,
) -> DeadJob | None:
    """Store the failure (without the arguments unless `keep_args`); never raises, since
    losing the log line would be worse."""
    from bson.errors import InvalidDocument  # pymongo: loads on the first dead job

    from vibetuner.data.models.dead_job import DeadJob  # beanie: loads on the first dead job

    fields: dict[str, Any] = {
        "task": task,
        "job_id": job_id,
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc)),
        "attempts": attempts,
    }
    if not keep_args:
        args, kwargs = (), {}
        fields["args_kept"] = False
    try:
        try:
            return await DeadJob(args=list(args), kwargs=dict(kwargs), **fields).insert()
        except (InvalidDocument, ValueError):  # pymongo's, or Beanie's "Cannot encode"
            # Arguments MongoDB cannot store are kept as text: readable, not retryable.
            reprs = {k: repr(v) for k, v in kwargs.items()}
            fields["args_kept"] = False
            return await DeadJob(args=[repr(a) for a in args], kwargs=reprs, **fields).insert()
    except Exception:
        logger.exception("could not store dead letter for job %s %s", task, job_id)
        return None


async def list_dead(limit: int = 50, *, include_retried: bool = False) -> list[DeadJob]:
    """Newest dead letters first; retried ones are hidden unless asked for."""
    from vibetuner.data.models.dead_job import DeadJob  # beanie: loads on the first dead job

    query = DeadJob.find_all() if include_retried else DeadJob.find(DeadJob.retried_at == None)  # noqa: E711
    return await query.sort(-DeadJob.failed_at).limit(limit).to_list()  # type: ignore[operator]
