"""Jobs that failed on their last attempt, kept so someone can look and retry them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import pymongo
from beanie import Document
from pydantic import Field


class DeadJob(Document):
    task: str
    job_id: str
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    error: str
    traceback: str = ""
    attempts: int
    args_kept: bool = True
    """False when the job cannot run again from what is stored: it carried a secret (its
    arguments were not stored), or MongoDB could not store them (kept as text)."""
    failed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    retried_at: datetime | None = None
    retry_job_id: str | None = None

    class Settings:
        name = "dead_jobs"
        indexes: ClassVar = [
            pymongo.IndexModel([("failed_at", pymongo.DESCENDING)]),
            pymongo.IndexModel([("task", pymongo.ASCENDING)]),
        ]
