"""A short message in the feed: the example that exercises the whole stack."""

from datetime import UTC, datetime
from typing import Annotated

import pymongo
from beanie import (
    Delete,
    Document,
    Insert,
    PydanticObjectId,
    Replace,
    Save,
    SaveChanges,
    Update,
    after_event,
)
from pydantic import BaseModel, Field, StringConstraints
from vibetuner import register_admin

from app.services.feed import feed_changed

MAX_LENGTH = 280

Content = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LENGTH)
]


class PostIn(BaseModel):
    """What a visitor may submit."""

    content: Content


class PostCard(BaseModel):
    """What the feed shows of a post: the cached form, much quicker to rebuild than a
    Document (the templates read both alike)."""

    id: str
    content: str
    author_id: str | None = None
    author_name: str = ""
    created_at: datetime
    edited_at: datetime | None = None


class Post(Document):
    """Writes through a document (insert, save, update, delete) refresh the cached feed by
    themselves. Bulk writes (`Post.insert_many`, `Post.find(...).delete()`) skip Beanie's
    event hooks: call `await feed_changed()` after one."""

    content: Content
    author_id: PydanticObjectId | None = None
    author_name: str = ""
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    edited_at: datetime | None = None

    class Settings:
        name = "posts"
        indexes = [[("created_at", pymongo.DESCENDING)], [("content", pymongo.ASCENDING)]]

    @after_event(Insert, Replace, Save, SaveChanges, Update, Delete)
    async def _refresh_feed(self) -> None:
        await feed_changed()


# In /admin: listed newest first, searched by the start of the text (both indexed above).
register_admin(
    Post,
    list_fields=["content", "author_name", "created_at"],
    search_fields=["content"],
    sort_fields=["created_at"],
    form_fields=["content", "author_name", "created_at", "edited_at"],
)
