"""Jobs the framework itself queues or schedules: sign-in emails, and backups when set."""

from __future__ import annotations

import logging
from typing import Any

from vibetuner.config import Settings, get_settings
from vibetuner.data._mongo import get_database
from vibetuner.services.email import send_email
from vibetuner.services.storage import get_storage
from vibetuner.tasks._task import cron, task

logger = logging.getLogger("vibetuner.tasks")

SEND_EMAIL = "vibetuner.send_email"
BACKUP = "vibetuner.backup"


@task(name=SEND_EMAIL, retries=3, backoff=2.0, timeout=60, keep_args=False)
async def send_email_job(to: str, template: str, context: dict[str, Any]) -> None:
    """Send one templated email; retried with backoff when the provider hiccups. The
    framework queues only sign-in emails, whose link is a secret (stored elsewhere only as
    a hash): a dead letter keeps no arguments."""
    await send_email(to, template, context)


async def send_email_soon(to: str, template: str, context: dict[str, Any]) -> None:
    """Queue the email when REDIS_URL is set; otherwise send it now, as before."""
    if get_settings().redis_url:
        await send_email_job.enqueue(to, template, context)
    else:
        await send_email_job(to, template, context)


async def scheduled_backup() -> str:
    """Store a backup of the app's database in blob storage, then keep the newest BACKUP_KEEP."""
    from vibetuner.services.backup import backup_to_storage  # tarfile, gzip: backups only

    stored = await backup_to_storage(get_database(), get_storage(), keep=get_settings().backup_keep)
    logger.info(
        "backup stored as %s (%d bytes, %d documents); pruned %d old backups",
        stored.key, stored.size, stored.summary.documents, len(stored.pruned),
    )  # fmt: skip
    return stored.key


def register_scheduled_jobs(settings: Settings) -> None:
    """The framework's cron jobs the settings ask for (BACKUP_SCHEDULE), for the worker."""
    if settings.backup_schedule:
        cron(settings.backup_schedule, name=BACKUP, timeout=settings.backup_timeout)(
            scheduled_backup
        )
