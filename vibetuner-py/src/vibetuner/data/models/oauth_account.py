"""An identity at an OAuth provider, linked to one user by ObjectId (no DBRef)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field


class OAuthAccount(Document):
    user_id: PydanticObjectId
    provider: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    class Settings:
        name = "oauth_accounts"
        indexes: ClassVar = [
            pymongo.IndexModel(
                [("provider", pymongo.ASCENDING), ("subject", pymongo.ASCENDING)], unique=True
            ),
            pymongo.IndexModel([("user_id", pymongo.ASCENDING)]),
        ]
