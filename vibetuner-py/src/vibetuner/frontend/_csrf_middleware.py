"""The CSRF check as plain ASGI middleware: unsafe methods need the session's token, from
the form field or the X-CSRF-Token header; a failed check is a 403 page."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibetuner.config import same_secret
from vibetuner.frontend._csrf import (
    FIELD,
    FORM_LIMIT,
    HEADER,
    MESSAGE,
    MULTIPART_FIELD,
    MULTIPART_PREFIX,
    UNSAFE,
)
from vibetuner.frontend._errors import error_response
from vibetuner.services.sessions import CSRF_KEY, Session


class CSRFMiddleware:
    """Reject unsafe requests with a session but without its token: 403, page or partial."""

    def __init__(self, app: ASGIApp, *, exempt: Iterable[str] = ()) -> None:
        self.app = app
        self.exempt = tuple(prefix.rstrip("/") for prefix in exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        session: Session | None = scope.get("session")
        expected = session.get(CSRF_KEY) if session is not None and session.record else None
        if session is None or session.record is None or _under(scope["path"], self.exempt):
            await self.app(scope, receive, send)
            return
        token = _header(scope)
        if token is None:
            token, receive = await _token_from_body(scope, receive)
        if not (isinstance(expected, str) and token and same_secret(token, expected)):
            await _forbidden(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    """`path` is one of `prefixes` or below it, segment by segment: `/hooks` covers
    `/hooks` and `/hooks/in`, never `/hookshot` or `/hooks-admin`."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


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
        match = MULTIPART_FIELD.search(body)
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

    response = error_response(Request(scope, receive), 403, messages=[str(MESSAGE)])
    await response(scope, receive, send)
