"""The visitor's session and user, as the web layer reads them from the request."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from vibetuner.services.sessions import (
    ANONYMOUS,
    USER_KEY,
    AnonymousUser,
    Session,
    SessionUser,
)

__all__ = [
    "ANONYMOUS",
    "USER_KEY",
    "AnonymousUser",
    "Session",
    "SessionUser",
    "session_of",
]


def session_of(conn: HTTPConnection) -> Session:
    session = conn.scope.get("session")
    if not isinstance(session, Session):
        raise RuntimeError("SessionMiddleware is not installed: call setup_middleware(app)")
    return session
