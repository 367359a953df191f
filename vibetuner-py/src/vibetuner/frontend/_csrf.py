"""CSRF protection: a synchronizer token per session, checked on every unsafe request.

The token comes from the `X-CSRF-Token` header (htmx sends it, see the skeleton) or the
`csrf_token` form field (`{{ csrf_input() }}`). Requests without a session cannot carry
anyone's authority, so only requests that arrive with a live session are checked.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from urllib.parse import parse_qs

from markupsafe import Markup
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibetuner.frontend._sessions import Session, session_of
from vibetuner.i18n import lazy_gettext

SESSION_KEY = "_csrf"
FIELD = "csrf_token"
HEADER = b"x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_LIMIT = 1024 * 1024
"""Largest urlencoded body read to find the token (bigger forms must use the header)."""
MULTIPART_PREFIX = 64 * 1024
"""Multipart bodies are searched only this far: put `csrf_input()` first in upload forms."""
_MULTIPART_FIELD = re.compile(
    rb'name="' + FIELD.encode() + rb'"\r\n(?:[^\r\n]+\r\n)*\r\n([A-Za-z0-9_\-]{16,128})\r\n'
)
MESSAGE = lazy_gettext(
    "This form has expired or did not come from this site. Reload the page and try again."
)


def csrf_token(conn: HTTPConnection) -> str:
    """The session's token, created on first use (which starts a session)."""
    session = session_of(conn)
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


_INPUT = Markup('<input type="hidden" name="csrf_token" value="')  # name: FIELD
_INPUT_END = Markup('">')


def csrf_input(conn: HTTPConnection) -> Markup:
    return _INPUT + csrf_token(conn) + _INPUT_END  # Markup + str escapes the str


class CSRFMiddleware:
    """Reject unsafe requests with a session but without its token: 403, page or partial."""

    def __init__(self, app: ASGIApp, *, exempt: Iterable[str] = ()) -> None:
        self.app = app
        self.exempt = tuple(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        session: Session | None = scope.get("session")
        expected = session.get(SESSION_KEY) if session is not None and session.record else None
        if session is None or session.record is None or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        token = _header(scope)
        if token is None:
            token, receive = await _token_from_body(scope, receive)
        if not (isinstance(expected, str) and token and hmac.compare_digest(token, expected)):
            await _forbidden(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _header(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            return str(value.decode("latin-1"))
    return None


async def _token_from_body(scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
    """Find the form field without consuming the body: what was read is replayed to the app."""
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"").lower()
    urlencoded = content_type.startswith(b"application/x-www-form-urlencoded")
    if not urlencoded and not content_type.startswith(b"multipart/form-data"):
        return None, receive
    limit = FORM_LIMIT if urlencoded else MULTIPART_PREFIX
    chunks: list[bytes] = []
    size = 0
    more = True
    while more and size < limit:
        message = await receive()
        if message["type"] != "http.request":
            return None, _replay(chunks, False, receive, message)
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    token: str | None = None
    if urlencoded and not more:
        values = parse_qs(body.decode("latin-1")).get(FIELD)
        token = values[0] if values else None
    elif not urlencoded:
        match = _MULTIPART_FIELD.search(body)
        token = match.group(1).decode() if match else None
    return token, _replay(chunks, more, receive)


def _replay(
    chunks: list[bytes], more: bool, receive: Receive, pending: Message | None = None
) -> Receive:
    queue: list[Message] = [
        {"type": "http.request", "body": b"".join(chunks), "more_body": more or pending is not None}
    ]
    if pending is not None:
        queue.append(pending)

    async def replay() -> Message:
        return queue.pop(0) if queue else await receive()

    return replay


async def _forbidden(scope: Scope, receive: Receive, send: Send) -> None:
    from vibetuner.frontend._errors import error_response

    response = error_response(Request(scope, receive), 403, messages=[str(MESSAGE)])
    await response(scope, receive, send)
