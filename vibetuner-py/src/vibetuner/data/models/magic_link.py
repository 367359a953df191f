"""Sign-in links: only the SHA-256 of the token is stored, and each works once."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import ClassVar

import pymongo
from beanie import Document
from pydantic import Field


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class MagicLinkToken(Document):
    token_hash: str
    email: str
    next_url: str = "/"
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    expires_at: datetime
    used_at: datetime | None = None

    class Settings:
        name = "magic_links"
        indexes: ClassVar = [
            pymongo.IndexModel([("token_hash", pymongo.ASCENDING)], unique=True),
            pymongo.IndexModel([("email", pymongo.ASCENDING)]),
            # Kept a day past expiry so a late click still gets "expired", then swept.
            pymongo.IndexModel([("expires_at", pymongo.ASCENDING)], expireAfterSeconds=86400),
        ]
