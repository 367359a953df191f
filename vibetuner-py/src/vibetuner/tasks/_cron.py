"""`@cron` schedules: checked when declared, and fired in dev by the web process itself.

With REDIS_URL, `vibetuner run worker` fires cron jobs (streaq schedules them, once across
all workers). Without it, in dev, there is no worker: the web process runs a loop per cron
task that enqueues it on the in-process queue when due, so scheduled jobs run in dev as they
do in production, with the same retries, timeout and dead letters.

Both read crontabs with parse-crontab (the `crontab` package streaq uses): five fields
(minute hour day month weekday), six (a year last) or seven (seconds first, a year last).
Times are UTC, as in the worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from crontab import CronTab

from vibetuner.exceptions import ConfigError
from vibetuner.tasks._registry import TaskSpec

logger = logging.getLogger("vibetuner.tasks")

MAX_NAP_SECONDS = 30.0

CRONTAB_HELP = (
    'Use five fields (minute hour day month weekday), e.g. @cron("*/5 * * * *"); seven put '
    'seconds first and a year last, e.g. @cron("*/10 * * * * * *") for every ten seconds.'
)


def parse_crontab(tab: str) -> CronTab:
    """The schedule, or a ConfigError that says how to write one."""
    try:
        return CronTab(tab)
    except ValueError as exc:
        raise ConfigError(f"Bad crontab {tab!r}: {exc}.", fix=CRONTAB_HELP) from None


def next_run(schedule: CronTab, after: datetime) -> datetime:
    """The first time strictly after `after` that the schedule names (UTC)."""
    due: datetime = schedule.next(now=after, return_datetime=True, default_utc=True)
    return due


async def sleep_until(when: datetime) -> None:
    """Short naps against the wall clock: a laptop's suspend does not make a job late."""
    while True:
        wait = (when - datetime.now(UTC)).total_seconds()
        if wait <= 0:
            return
        await asyncio.sleep(min(wait, MAX_NAP_SECONDS))


Enqueue = Callable[[str], Awaitable["asyncio.Future[Any]"]]
"""Start the named task now; the future is done when the job finishes (either way)."""


async def fire_on_schedule(definition: TaskSpec[Any, Any], enqueue: Enqueue) -> None:
    """Enqueue `definition` each time its crontab comes due, until cancelled.

    A run still going when the next is due makes that one skip, as the worker's crons are
    unique (streaq's `unique`).
    """
    assert definition.crontab
    schedule = parse_crontab(definition.crontab)
    due = next_run(schedule, datetime.now(UTC))
    running: asyncio.Future[Any] | None = None
    while True:
        await sleep_until(due)
        if running is not None and not running.done():
            logger.warning("cron %s is still running at %s; skipping this run",
                           definition.name, due.isoformat())  # fmt: skip
        else:
            try:
                running = await enqueue(definition.name)
            except Exception:
                logger.exception("cron %s could not start", definition.name)
        # From the due time, not the clock: waking a hair early must not fire twice.
        due = next_run(schedule, max(datetime.now(UTC), due))
