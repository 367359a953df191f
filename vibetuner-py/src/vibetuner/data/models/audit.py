"""Who changed what, and when: the admin's edits and the debug console's visits, kept for review."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field


class AuditEntry(Document):
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    actor_id: PydanticObjectId | None = None
    actor_email: str | None = None
    action: str
    """What was done: `admin.create`, `admin.update`, `admin.delete`, `debug.visit`, ..."""
    target: str | None = None
    """The model (collection) or page acted on."""
    target_id: str | None = None
    changes: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Field name to `{"before": ..., "after": ...}`; empty when nothing was changed."""
    request_id: str | None = None
    ip: str | None = None

    class Settings:
        name = "audit_log"
        indexes: ClassVar = [
            pymongo.IndexModel([("at", pymongo.DESCENDING)]),
            pymongo.IndexModel(
                [
                    ("target", pymongo.ASCENDING),
                    ("target_id", pymongo.ASCENDING),
                    ("at", pymongo.DESCENDING),
                ]
            ),
            pymongo.IndexModel([("actor_id", pymongo.ASCENDING), ("at", pymongo.DESCENDING)]),
        ]
