"""Magic links: 32 random bytes in the URL, only their SHA-256 in the database."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from vibetuner.data.models.magic_link import MagicLinkToken, hash_token
from vibetuner.data.models.user import User
from vibetuner.exceptions import VibetunerError


class LinkProblem(StrEnum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


class InvalidMagicLink(VibetunerError):
    def __init__(self, problem: LinkProblem, email: str | None = None) -> None:
        super().__init__(f"Sign-in link is {problem.value}")
        self.problem = problem
        self.email = email


async def issue_magic_link(email: str, next_url: str, max_age: int) -> str:
    """A fresh token for `email`; every older unused link for it stops working."""
    email = User.normalize_email(email)
    now = datetime.now(UTC)
    await MagicLinkToken.find({"email": email, "used_at": None}).update_many(
        {"$set": {"used_at": now}}
    )
    token = secrets.token_urlsafe(32)
    await MagicLinkToken(
        token_hash=hash_token(token),
        email=email,
        next_url=next_url,
        expires_at=now + timedelta(seconds=max_age),
    ).insert()
    return token


async def consume_magic_link(token: str) -> MagicLinkToken:
    """Mark the link used and return it, atomically: a link works exactly once."""
    if not token or len(token) > 128:
        raise InvalidMagicLink(LinkProblem.UNKNOWN)
    now = datetime.now(UTC)
    collection = MagicLinkToken.get_pymongo_collection()
    claimed = await collection.find_one_and_update(
        {"token_hash": hash_token(token), "used_at": None, "expires_at": {"$gt": now}},
        {"$set": {"used_at": now}},
    )
    if claimed is not None:
        link: MagicLinkToken = MagicLinkToken.model_validate(claimed)
        return link
    existing = await MagicLinkToken.find_one({"token_hash": hash_token(token)})
    if existing is None:
        raise InvalidMagicLink(LinkProblem.UNKNOWN)
    if existing.used_at is not None:
        raise InvalidMagicLink(LinkProblem.USED, existing.email)
    raise InvalidMagicLink(LinkProblem.EXPIRED, existing.email)
