"""A short message in the feed: the example that exercises the whole stack."""

from datetime import UTC, datetime
from typing import Annotated

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field, StringConstraints

MAX_LENGTH = 280

Content = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LENGTH)
]


class PostIn(BaseModel):
    """What a visitor may submit."""

    content: Content


class Post(Document):
    content: Content
    author_id: PydanticObjectId | None = None
    author_name: str = ""
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    edited_at: datetime | None = None

    class Settings:
        name = "posts"
        indexes = [[("created_at", pymongo.DESCENDING)]]
