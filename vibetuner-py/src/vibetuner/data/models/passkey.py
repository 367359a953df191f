"""Passkeys (WebAuthn credentials) and the one-time challenges their ceremonies sign.

A passkey names its user by ObjectId (no DBRef, which SecantusDB cannot follow). A challenge
is kept here, not only in the session, so that taking it is one atomic update: it works
once, even when two requests bring it at the same moment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Literal

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field


def _now() -> datetime:
    return datetime.now(UTC)


class Passkey(Document):
    user_id: PydanticObjectId
    credential_id: str
    """The credential's id, base64url without padding (as the browser names it)."""
    public_key: bytes
    """The COSE public key the authenticator gave at registration."""
    sign_count: int = 0
    transports: list[str] = Field(default_factory=list)
    backup_eligible: bool = False
    """The credential may be synced to other devices (a multi-device passkey)."""
    backed_up: bool = False
    """The credential was backed up (synced) when last used."""
    aaguid: str = ""
    name: str
    created_at: datetime = Field(default_factory=_now)
    last_used_at: datetime | None = None

    class Settings:
        name = "passkeys"
        indexes: ClassVar = [
            pymongo.IndexModel([("credential_id", pymongo.ASCENDING)], unique=True),
            pymongo.IndexModel([("user_id", pymongo.ASCENDING)]),
        ]


Ceremony = Literal["register", "authenticate"]


class PasskeyChallenge(Document):
    key: str
    """A random id that only the server-side session holds."""
    ceremony: Ceremony
    challenge: bytes
    user_id: PydanticObjectId | None = None
    """The user registering a passkey (None while signing in)."""
    expires_at: datetime
    used_at: datetime | None = None

    class Settings:
        name = "passkey_challenges"
        indexes: ClassVar = [
            pymongo.IndexModel([("key", pymongo.ASCENDING)], unique=True),
            # Swept an hour after expiry; until then a late answer still hears why.
            pymongo.IndexModel([("expires_at", pymongo.ASCENDING)], expireAfterSeconds=3600),
        ]
