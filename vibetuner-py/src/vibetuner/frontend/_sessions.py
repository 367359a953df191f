"""The visitor's session, as the web layer reads it from the request."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from vibetuner.services.sessions import Session


def session_of(conn: HTTPConnection) -> Session:
    session = conn.scope.get("session")
    if not isinstance(session, Session):
        raise RuntimeError("SessionMiddleware is not installed: call setup_middleware(app)")
    return session
