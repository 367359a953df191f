"""Magic links: 32 random bytes in the URL, only their SHA-256 in the database.

Opening a link only looks at it (`check_magic_link`): mail scanners and link previews
fetch every URL in a message, so signing in takes a POST (`consume_magic_link`).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from vibetuner.data.models.magic_link import MagicLinkToken, hash_token
from vibetuner.data.models.user import User
from vibetuner.exceptions import VibetunerError

KEEP_VALID = 3
"""Unexpired links per address that keep working when another is asked for, so a slow
mail or a second request does not break the link the person is about to click."""
MAX_TOKEN_LENGTH = 128


class LinkProblem(StrEnum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


class InvalidMagicLink(VibetunerError):
    """Why a link cannot sign in; it names no address, so a stray link reveals nobody."""

    def __init__(self, problem: LinkProblem) -> None:
        super().__init__(f"Sign-in link is {problem.value}")
        self.problem = problem


async def issue_magic_link(email: str, next_url: str, max_age: int) -> str:
    """A fresh token for `email`; only the newest `KEEP_VALID` unexpired links stay valid."""
    email = User.normalize_email(email)
    now = datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    await MagicLinkToken(
        token_hash=hash_token(token),
        email=email,
        next_url=next_url,
        created_at=now,
        expires_at=now + timedelta(seconds=max_age),
    ).insert()
    await _retire_older(email, now)
    return token


async def _retire_older(email: str, now: datetime) -> None:
    """Links beyond the newest `KEEP_VALID` usable ones stop working."""
    collection = MagicLinkToken.get_pymongo_collection()
    usable = {"email": email, "used_at": None, "expires_at": {"$gt": now}}
    older = collection.find(usable, {"_id": 1}).sort([("created_at", -1), ("_id", -1)])
    retired = [doc["_id"] async for doc in older.skip(KEEP_VALID)]
    if retired:
        await collection.update_many(
            {"_id": {"$in": retired}, "used_at": None}, {"$set": {"used_at": now}}
        )


async def check_magic_link(token: str) -> MagicLinkToken:
    """The link if it would sign in now; nothing is consumed, so a GET or a scanner is harmless."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidMagicLink(LinkProblem.UNKNOWN)
    link = await MagicLinkToken.find_one({"token_hash": hash_token(token)})
    _raise_unless_usable(link, datetime.now(UTC))
    assert link is not None
    return link


async def consume_magic_link(token: str) -> MagicLinkToken:
    """Mark the link used and return it, atomically: a link works exactly once."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
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
    _raise_unless_usable(existing, now)
    raise InvalidMagicLink(LinkProblem.USED)  # claimed by a concurrent request just now


def _raise_unless_usable(link: MagicLinkToken | None, now: datetime) -> None:
    if link is None:
        raise InvalidMagicLink(LinkProblem.UNKNOWN)
    if link.used_at is not None:
        raise InvalidMagicLink(LinkProblem.USED)
    if link.expires_at <= now:  # the client is tz-aware: stored times come back in UTC
        raise InvalidMagicLink(LinkProblem.EXPIRED)
