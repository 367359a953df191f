"""The session store interface: server-side records keyed by an opaque id."""

from __future__ import annotations

import abc
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

ID_BYTES = 32


def new_session_id() -> str:
    """32 random bytes, URL-safe: the only thing the cookie carries."""
    return secrets.token_urlsafe(ID_BYTES)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class SessionRecord:
    """What the server keeps for one browser session."""

    id: str
    data: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    expires_at: datetime = field(default_factory=utcnow)
    ip: str | None = None
    user_agent: str | None = None
    generation: int = 0
    """The user's session generation when they signed in (see `SessionStore.create`)."""
    version: int = 0
    """How many updates the record has had: `SessionStore.update` writes only over the
    version it read, so of two requests that save together neither loses the other's keys."""

    def to_json(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "user_id": self.user_id,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "ip": self.ip,
            "user_agent": self.user_agent,
            "generation": self.generation,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, session_id: str, raw: dict[str, Any]) -> SessionRecord:
        return cls(
            id=session_id,
            data=dict(raw.get("data") or {}),
            user_id=raw.get("user_id"),
            created_at=datetime.fromisoformat(raw["created_at"]),
            expires_at=datetime.fromisoformat(raw["expires_at"]),
            ip=raw.get("ip"),
            user_agent=raw.get("user_agent"),
            generation=int(raw.get("generation") or 0),
            version=int(raw.get("version") or 0),
        )

    def touch(self, max_age: int) -> None:
        self.expires_at = utcnow() + timedelta(seconds=max_age)

    @property
    def expired(self) -> bool:
        return self.expires_at <= utcnow()


class SessionStore(abc.ABC):
    """Async storage for session records; every backend passes the same contract suite.

    A revoked session stays revoked: `update` never recreates a deleted record, and
    `delete_for_user` first moves the user's generation on, so a sign-in that read the
    user before the revocation cannot `create` a session afterwards.
    """

    @abc.abstractmethod
    async def load(self, session_id: str) -> SessionRecord | None:
        """The live record for this id, or None when unknown or expired."""

    @abc.abstractmethod
    async def create(self, record: SessionRecord) -> bool:
        """Store a new record; False (and nothing stored) when it belongs to a user whose
        generation has moved past `record.generation`."""

    @abc.abstractmethod
    async def update(self, record: SessionRecord) -> bool:
        """Replace a live record still at `record.version`, and move both on by one; False
        (and nothing written) when it is gone or another update came first: load it again
        to tell which, and merge onto what is stored now."""

    @abc.abstractmethod
    async def delete(self, session_id: str) -> None:
        """Forget one session; unknown ids are ignored."""

    @abc.abstractmethod
    async def list_for_user(self, user_id: str) -> list[SessionRecord]:
        """The user's live sessions, newest first (the "active sessions" page)."""

    @abc.abstractmethod
    async def generation(self, user_id: str) -> int:
        """How many times the user was signed out everywhere (0 at first)."""

    @abc.abstractmethod
    async def delete_for_user(self, user_id: str) -> int:
        """Sign a user out everywhere (generation first, then the records); returns how
        many sessions were removed."""

    @abc.abstractmethod
    async def count(self) -> int:
        """How many sessions are live now (the debug console and /metrics show it)."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections, if the backend holds any."""
