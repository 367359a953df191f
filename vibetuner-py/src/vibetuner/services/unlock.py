"""Unlock links for the debug console in production: signed, short-lived and single use.

A token is `EXPIRY.NONCE.SIGNATURE`: the expiry (Unix seconds) and a random nonce, signed
with HMAC-SHA256 under a key derived from SECRET_KEY for this purpose only. Opening one
records its nonce in MongoDB (`debug_unlock_nonces`, kept until the expiry by a TTL index),
so a second opening, on any worker or instance, is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from vibetuner.config import ascii_int, same_secret

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase

UNLOCK_PATH = "/_debug/unlock"
NONCE_COLLECTION = "debug_unlock_nonces"
DEFAULT_MINUTES = 10
MAX_MINUTES = 60
_PURPOSE = b"vibetuner.debug-unlock.v1"

Reason = Literal["forged", "expired", "replayed"]


class UnlockRefused(Exception):
    """The token is not one we signed (forged), is past its expiry, or was used already."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason


@dataclass(frozen=True)
class Unlock:
    """A verified (not yet consumed) unlock."""

    nonce: str
    expires_at: datetime


def _key(secret_key: str) -> bytes:
    """A key for this purpose only: an unlock signature is useful for nothing else."""
    return hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()


def _sign(secret_key: str, payload: str) -> str:
    digest = hmac.new(_key(secret_key), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_token(
    secret_key: str, minutes: int = DEFAULT_MINUTES, *, now: datetime | None = None
) -> tuple[str, datetime]:
    """A fresh token and when it expires."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise ValueError(f"minutes must be between 1 and {MAX_MINUTES}")
    if not secret_key:
        raise ValueError("SECRET_KEY is empty")
    expiry = int(((now or datetime.now(UTC)) + timedelta(minutes=minutes)).timestamp())
    payload = f"{expiry}.{secrets.token_urlsafe(24)}"
    return f"{payload}.{_sign(secret_key, payload)}", datetime.fromtimestamp(expiry, UTC)


def verify_token(token: str, secret_key: str, *, now: datetime | None = None) -> Unlock:
    """The unlock a token carries; UnlockRefused("forged") or ("expired") otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or not secret_key or ascii_int(parts[0]) is None or len(token) > 200:
        raise UnlockRefused("forged")
    expiry, nonce, signature = parts
    expected = _sign(secret_key, f"{expiry}.{nonce}")
    if not same_secret(signature, expected):
        raise UnlockRefused("forged")
    try:
        expires_at = datetime.fromtimestamp(int(expiry), UTC)
    except (OverflowError, ValueError, OSError):
        raise UnlockRefused("forged") from None
    if expires_at <= (now or datetime.now(UTC)):
        raise UnlockRefused("expired")
    return Unlock(nonce=nonce, expires_at=expires_at)


async def consume(unlock: Unlock, db: AsyncDatabase[dict[str, Any]]) -> None:
    """Record the nonce as used; UnlockRefused("replayed") when it already was, anywhere."""
    from pymongo.errors import DuplicateKeyError  # pymongo: kept off the CLI's startup

    collection = db[NONCE_COLLECTION]
    await collection.create_index("expires_at", expireAfterSeconds=0)
    try:
        await collection.insert_one({"_id": unlock.nonce, "expires_at": unlock.expires_at})
    except DuplicateKeyError:
        raise UnlockRefused("replayed") from None


def unlock_link(
    public_url: str, secret_key: str, minutes: int = DEFAULT_MINUTES
) -> tuple[str, datetime]:
    """The link `vibetuner debug unlock` prints, and when it expires."""
    token, expires_at = issue_token(secret_key, minutes)
    return f"{public_url.rstrip('/')}{UNLOCK_PATH}?token={token}", expires_at
