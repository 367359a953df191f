"""Server-side sessions as plain ASGI middleware: the cookie holds only an opaque id.

`request.session` is a dict backed by the session store; `request.user` is the signed-in
user (a snapshot kept in the session) or an anonymous user. Nothing is written for a
visitor until something is stored in their session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibetuner.exceptions import ServiceUnavailable
from vibetuner.frontend._errors import is_outage, service_unavailable
from vibetuner.services.sessions import (
    ANONYMOUS,
    USER_KEY,
    Session,
    SessionRecord,
    SessionStore,
    SessionUser,
    new_session_id,
    utcnow,
)

RENEW_FRACTION = 0.1
"""Slide the expiry once this share of SESSION_MAX_AGE has passed since the last save."""
MERGE_ATTEMPTS = 20
"""Saves of one session racing this one: past this many, answer 503 (Retry-After)."""


class SessionMiddleware:
    """Load the session before the app runs; save it just before the response starts."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: Callable[[], SessionStore],
        cookie_name: str = "vt_session",
        max_age: int = 14 * 24 * 3600,
        anonymous_max_age: int = 24 * 3600,
        secure: bool = False,
    ) -> None:
        self.app = app
        self.store = store
        self.cookie_name = cookie_name
        self.max_age = max_age
        self.anonymous_max_age = min(anonymous_max_age, max_age)
        flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        self._flags = flags
        self._expire = f"{cookie_name}=; Max-Age=0{flags}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        session_id = _cookie(scope, self.cookie_name)
        try:
            record = await self.store().load(session_id) if session_id else None
        except Exception as exc:
            if not is_outage(exc):
                raise
            await _unavailable(scope, receive, send, exc)
            return
        session = Session(record)
        scope["session"] = session
        raw_user = session.get(USER_KEY) if record and record.user_id else None
        scope["user"] = SessionUser.from_json(raw_user) if raw_user else ANONYMOUS
        stale_cookie = session_id is not None and record is None

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                try:
                    cookie = await self._commit(scope, session, stale_cookie)
                except Exception as exc:
                    if not is_outage(exc):
                        raise
                    await _unavailable(scope, receive, send, exc)
                    raise _ResponseReplaced from exc
                if cookie is not None:
                    headers = list(message.get("headers", ()))
                    headers.append((b"set-cookie", cookie))
                    message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        except _ResponseReplaced:
            return

    async def _commit(self, scope: Scope, session: Session, stale_cookie: bool) -> bytes | None:
        """Persist what changed; return the Set-Cookie value to send, if any."""
        if session.record is None and not (session.modified or session.destroyed):
            return self._expire if stale_cookie else None  # anonymous: no store touched
        store = self.store()
        if session.destroyed:
            for session_id in {session.id, session.rotated_from} - {None}:
                await store.delete(session_id)  # type: ignore[arg-type]
            return self._expire if (session.record or stale_cookie) else None
        if session.rotated_from is not None:
            await store.delete(session.rotated_from)
        record = session.record
        if record is None:
            if not session.modified:
                return self._expire if stale_cookie else None
            record = session.record = SessionRecord(id=new_session_id())
            session.created = True
        if session.modified or session.created or self._due(record):
            if record.ip is None and scope.get("client"):
                record.ip = scope["client"][0]
            if record.user_agent is None:
                record.user_agent = (_header(scope, b"user-agent") or "")[:300] or None
            if not await self._save(store, session, record):
                return self._expire  # revoked or expired while this request ran
            max_age = self._max_age(record)
            return f"{self.cookie_name}={record.id}; Max-Age={max_age}{self._flags}".encode()
        return None

    async def _save(self, store: SessionStore, session: Session, record: SessionRecord) -> bool:
        """Write the session; False when it is gone (revoked sessions stay revoked).

        Requests of one session that run alongside (a passkey challenge beside an OAuth
        start) each write only the keys they changed, onto what is stored by then: an
        update over a version another request has moved on is refused, and merged again.
        """
        if session.created:
            record.data = dict(session)
            record.touch(self._max_age(record))
            return await store.create(record)
        for _ in range(MERGE_ATTEMPTS):
            latest = await store.load(record.id)
            if latest is None:
                return False
            record.data = session.merged_into(latest.data)
            record.version = latest.version
            record.touch(self._max_age(record))
            if await store.update(record):
                return True
        raise SessionContention(f"session changed {MERGE_ATTEMPTS} times while it was saved")

    def _due(self, record: SessionRecord) -> bool:
        """Sliding expiry: renew once a tenth of the lifetime has passed since the last save."""
        remaining = (record.expires_at - utcnow()).total_seconds()
        return remaining < self._max_age(record) * (1 - RENEW_FRACTION)

    def _max_age(self, record: SessionRecord) -> int:
        """A signed-in session lasts `max_age`; one nobody signed in to, `anonymous_max_age`
        (a crawler that fetches a page with a form leaves a record behind each time)."""
        return self.max_age if record.user_id else self.anonymous_max_age


class SessionContention(TimeoutError):
    """Other requests of the session kept saving first: an outage to the visitor (503)."""


class _ResponseReplaced(Exception):
    """The session could not be saved: a 503 went out instead of the app's response."""


async def _unavailable(scope: Scope, receive: Receive, send: Send, exc: BaseException) -> None:
    logging.getLogger("vibetuner.sessions").warning("Session store unavailable: %s", exc)
    response = service_unavailable(Request(scope, receive), ServiceUnavailable("The session store"))
    await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    """The session id from the Cookie header; the last `name=` pair wins, as with
    SimpleCookie. An id that is too long counts as no cookie."""
    raw = _header(scope, b"cookie")
    if not raw or name not in raw:
        return None
    prefix = name + "="
    value = None
    for pair in raw.split(";"):
        pair = pair.strip()
        if pair.startswith(prefix):
            value = pair[len(prefix) :]
    return value if value and len(value) <= 128 else None
