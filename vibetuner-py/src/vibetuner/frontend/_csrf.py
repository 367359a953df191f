"""CSRF protection: a synchronizer token per session, checked on every unsafe request.

The token comes from the `X-CSRF-Token` header (htmx sends it, see the skeleton) or the
`csrf_token` form field (`{{ csrf_input() }}`). Requests without a session cannot carry
anyone's authority, so only requests that arrive with a live session are checked.
"""

from __future__ import annotations

import re
import secrets

from markupsafe import Markup
from starlette.requests import HTTPConnection

from vibetuner.frontend._sessions import session_of
from vibetuner.i18n import lazy_gettext
from vibetuner.services.sessions import CSRF_KEY

FIELD = "csrf_token"
HEADER = b"x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_LIMIT = 1024 * 1024
"""Largest urlencoded body read to find the token (bigger forms must use the header)."""
MULTIPART_PREFIX = 64 * 1024
"""Multipart bodies are searched only this far: put `csrf_input()` first in upload forms."""
MULTIPART_FIELD = re.compile(
    rb'name="' + FIELD.encode() + rb'"\r\n(?:[^\r\n]+\r\n)*\r\n([A-Za-z0-9_\-]{16,128})\r\n'
)
MESSAGE = lazy_gettext(
    "This form has expired or did not come from this site. Reload the page and try again."
)


def csrf_token(conn: HTTPConnection) -> str:
    """The session's token, created on first use (which starts a session)."""
    session = session_of(conn)
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


_INPUT = Markup('<input type="hidden" name="csrf_token" value="')  # name: FIELD
_INPUT_END = Markup('">')


def csrf_input(conn: HTTPConnection) -> Markup:
    return _INPUT + csrf_token(conn) + _INPUT_END  # Markup + str escapes the str


def csrf_verified(conn: HTTPConnection) -> bool:
    """Whether this unsafe request came with its session's token. The middleware lets
    requests without a session through, as they carry nobody's authority; a route that
    grants authority (signing in) must ask, or a forged form could sign a victim in."""
    session = session_of(conn)
    return session.record is not None and isinstance(session.get(CSRF_KEY), str)
