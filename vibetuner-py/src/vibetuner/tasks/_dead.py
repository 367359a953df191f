"""Dead letters: a job's last failure is stored in MongoDB so it can be read and retried."""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vibetuner.data.models.dead_job import DeadJob

logger = logging.getLogger("vibetuner.tasks")


TEXT_LIMIT = 64 * 1024
"""Characters kept of an error, a traceback or an argument's text: a dead letter must fit
in one MongoDB document (16 MiB) whatever the job carried."""


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
    losing the log line would be worse. Arguments MongoDB cannot store are kept as text
    (readable, not retryable), and when even that is too large, left out."""
    from bson.errors import InvalidDocument  # pymongo: loads on the first dead job

    from vibetuner.data.models.dead_job import DeadJob  # beanie: loads on the first dead job

    try:
        fields: dict[str, Any] = {
            "task": task,
            "job_id": job_id,
            "error": _clipped(_error_text(exc)),
            "traceback": _clipped("".join(traceback.format_exception(exc)), keep_end=True),
            "attempts": attempts,
        }
        if not keep_args:
            args, kwargs = (), {}
            fields["args_kept"] = False
        texts = (
            [_clipped(repr(a)) for a in args],
            {k: _clipped(repr(v)) for k, v in kwargs.items()},
        )
        for kept_args, kept_kwargs in ((list(args), dict(kwargs)), texts, ([], {})):
            try:
                return await DeadJob(args=kept_args, kwargs=kept_kwargs, **fields).insert()
            except (InvalidDocument, ValueError):  # pymongo's (too large too), or Beanie's
                fields["args_kept"] = False
        return None
    except Exception:
        logger.exception("could not store dead letter for job %s %s", task, job_id)
        return None


def _error_text(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:
        message = "<the exception's message could not be read>"
    return f"{type(exc).__name__}: {message}"


def _clipped(text: str, *, keep_end: bool = False) -> str:
    """At most TEXT_LIMIT characters; a traceback keeps its end, where the error is."""
    if len(text) <= TEXT_LIMIT:
        return text
    cut = f" [{len(text) - TEXT_LIMIT} characters left out] "
    return cut + text[-TEXT_LIMIT:] if keep_end else text[:TEXT_LIMIT] + cut


async def list_dead(limit: int = 50, *, include_retried: bool = False) -> list[DeadJob]:
    """Newest dead letters first; retried ones are hidden unless asked for."""
    from vibetuner.data.models.dead_job import DeadJob  # beanie: loads on the first dead job

    query = DeadJob.find_all() if include_retried else DeadJob.find(DeadJob.retried_at == None)  # noqa: E711
    return await query.sort(-DeadJob.failed_at).limit(limit).to_list()  # type: ignore[operator]
