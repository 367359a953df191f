"""Accounts: one per verified email address."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

import pymongo
from beanie import Document
from pydantic import Field


def _now() -> datetime:
    return datetime.now(UTC)


class User(Document):
    email: str
    name: str = ""
    avatar_url: str | None = None
    locale: str | None = None
    created_at: datetime = Field(default_factory=_now)
    last_login_at: datetime | None = None
    is_active: bool = True
    roles: list[str] = Field(default_factory=list)

    class Settings:
        name = "users"
        indexes: ClassVar = [pymongo.IndexModel([("email", pymongo.ASCENDING)], unique=True)]

    @staticmethod
    def normalize_email(email: str) -> str:
        return email.strip().lower()

    @classmethod
    async def by_email(cls, email: str) -> User | None:
        return await cls.find_one({"email": cls.normalize_email(email)})

    @property
    def display_name(self) -> str:
        return self.name or self.email
