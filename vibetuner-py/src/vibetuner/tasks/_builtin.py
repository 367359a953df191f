"""Jobs the framework itself queues: sign-in emails leave the request path when Redis is there."""

from __future__ import annotations

from typing import Any

from vibetuner.config import get_settings
from vibetuner.services.email import send_email
from vibetuner.tasks._task import task

SEND_EMAIL = "vibetuner.send_email"


@task(name=SEND_EMAIL, retries=3, backoff=2.0, timeout=60)
async def send_email_job(to: str, template: str, context: dict[str, Any]) -> None:
    """Send one templated email; retried with backoff when the provider hiccups."""
    await send_email(to, template, context)


async def send_email_soon(to: str, template: str, context: dict[str, Any]) -> None:
    """Queue the email when REDIS_URL is set; otherwise send it now, as before."""
    if get_settings().redis_url:
        await send_email_job.enqueue(to, template, context)
    else:
        await send_email_job(to, template, context)
