"""A visitor's session as the request sees it: its data (a dict that knows when it changed),
its id, and the signed-in user it remembers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vibetuner.services.sessions._base import SessionRecord, new_session_id

USER_KEY = "_user"
CSRF_KEY = "_csrf"


@dataclass(frozen=True)
class SessionUser:
    """The signed-in user, as the session remembers them (no database read per request)."""

    id: str
    email: str
    name: str = ""
    avatar_url: str | None = None
    locale: str | None = None
    roles: tuple[str, ...] = field(default_factory=tuple)

    is_authenticated = True

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "avatar_url": self.avatar_url,
            "locale": self.locale,
            "roles": list(self.roles),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SessionUser:
        return cls(
            id=str(raw["id"]),
            email=str(raw["email"]),
            name=str(raw.get("name") or ""),
            avatar_url=raw.get("avatar_url"),
            locale=raw.get("locale"),
            roles=tuple(raw.get("roles") or ()),
        )


class AnonymousUser:
    is_authenticated = False
    id = None
    email = None
    display_name = ""
    roles: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return False


ANONYMOUS = AnonymousUser()


class Session(dict[str, Any]):
    """The session's data; tracks changes so only real changes are written."""

    def __init__(self, record: SessionRecord | None) -> None:
        super().__init__(record.data if record else {})
        self.record = record
        self.modified = False
        self.rotated_from: str | None = None
        self.created = False
        self.destroyed = False
        self._set: set[str] = set()
        self._removed: set[str] = set()

    @property
    def id(self) -> str | None:
        return self.record.id if self.record else None

    @property
    def exists(self) -> bool:
        return self.record is not None or self.modified

    @property
    def user_id(self) -> str | None:
        return self.record.user_id if self.record else None

    def _wrote(self, key: str) -> None:
        self.modified = True
        self._set.add(key)
        self._removed.discard(key)

    def _dropped(self, key: str) -> None:
        self.modified = True
        self._removed.add(key)
        self._set.discard(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._wrote(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._dropped(key)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self._dropped(key)
        return super().pop(key, *default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self._wrote(key)
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        changes = dict(*args, **kwargs)
        for key in changes:
            self._wrote(key)
        super().update(changes)

    def clear(self) -> None:
        for key in list(self):
            self._dropped(key)
        self.modified = True
        super().clear()

    def merged_into(self, stored: dict[str, Any]) -> dict[str, Any]:
        """This request's changes applied to the data as stored now: a request that ran
        alongside (a passkey challenge beside an OAuth start) keeps what it wrote."""
        merged = {k: v for k, v in stored.items() if k not in self._removed}
        merged.update((key, self[key]) for key in self._set if key in self)
        return merged

    def rotate(self) -> SessionRecord:
        """Give the session a new id (on sign-in or privilege change): no fixation. The
        CSRF token goes too: a token seen before sign-in is worth nothing after it."""
        self.pop(CSRF_KEY, None)
        if self.record is not None and self.rotated_from is None:
            self.rotated_from = self.record.id
        if self.record is None:
            self.record = SessionRecord(id=new_session_id())
        else:
            self.record = SessionRecord(
                id=new_session_id(),
                user_id=self.record.user_id,
                ip=self.record.ip,
                user_agent=self.record.user_agent,
            )
        self.modified = self.created = True
        return self.record

    def destroy(self) -> None:
        """Delete the server record and the cookie (logout)."""
        super().clear()
        self.destroyed = True
