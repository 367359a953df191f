"""What the database knows about a stored blob: who owns it, its size, hash and type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field


def _now() -> datetime:
    return datetime.now(UTC)


class Blob(Document):
    """One stored object; `key` locates the bytes in the storage backend."""

    key: str
    owner: PydanticObjectId | None = None
    """The owning user's id: a plain ObjectId, not a Link, so queries stay simple."""
    size: int
    sha256: str
    content_type: str
    original_name: str = ""
    """The client's file name, for display and downloads only; never part of a path."""
    created_at: datetime = Field(default_factory=_now)

    class Settings:
        name = "blobs"
        indexes: ClassVar = [
            pymongo.IndexModel([("key", pymongo.ASCENDING)], unique=True),
            pymongo.IndexModel([("owner", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)]),
        ]
