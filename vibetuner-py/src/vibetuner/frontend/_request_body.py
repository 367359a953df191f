"""Request bodies are bounded: 408 for a body that pauses or takes too long, 413 past a size.

Granian bounds how long the headers may take (SERVER_HEADER_TIMEOUT) but not the body,
so a client could hold a worker's place for ever by sending a byte now and then. Each
`receive()` waits at most REQUEST_BODY_IDLE_TIMEOUT for the next chunk, and the whole
body must be in within REQUEST_BODY_TIMEOUT of the request's start. Once the body is
complete, `receive()` is left alone (streams wait on it for the disconnect). A body
larger than REQUEST_MAX_BODY_BYTES gets 413: at once when its Content-Length says so,
else when the bytes received pass it. A route may set a smaller limit of its own with
FastAPI's `max_body_size=`. One client network (/64 for IPv6, /32 for IPv4) may send at
most REQUEST_BODIES_PER_CLIENT bodies to a worker at once, so a client trickling many
bodies cannot hold every place the worker has (SERVER_BACKPRESSURE): past it, 429.

An HTTP/1 request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112,
6.3), and neither has one with `Content-Length: 0`: those pass straight through, which
keeps pages and probes free of the wrappers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibetuner.config import ascii_int
from vibetuner.frontend._errors import error_response
from vibetuner.i18n import _
from vibetuner.i18n._format import format_bytes
from vibetuner.server._net import network_of

logger = logging.getLogger("vibetuner.requests")


class BodyTimeout(HTTPException):
    """The body stopped arriving: 408, and the connection closes."""

    def __init__(self) -> None:
        message = _("The request took too long to arrive. Please try again.")
        super().__init__(408, message, headers={"Connection": "close"})


class BodyTooLarge(HTTPException):
    """The body is larger than REQUEST_MAX_BODY_BYTES: 413, and the connection closes."""

    def __init__(self, limit: int) -> None:
        message = _("The request is too large: the limit is {size}.").format(
            size=format_bytes(limit)
        )
        super().__init__(413, message, headers={"Connection": "close"})


class TooManyBodies(HTTPException):
    """The client's network is sending REQUEST_BODIES_PER_CLIENT bodies already: 429."""

    def __init__(self) -> None:
        message = _("Too many requests from your network are still arriving. Try again soon.")
        super().__init__(429, message, headers={"Connection": "close", "Retry-After": "5"})


def body_length(scope: Scope) -> int | None:
    """The declared body size: 0 for none, None when it is unknown (chunked, HTTP/2 and 3,
    or a Content-Length that is not plain ASCII digits: the bytes are then counted)."""
    if scope.get("http_version") not in ("1.1", "1.0"):
        return None
    length: int | None = 0
    for name, value in scope["headers"]:
        if name == b"content-length":
            # A malformed one is left to whoever reads the body (a 400 that says so).
            length = ascii_int(value.decode("latin-1"))
        elif name == b"transfer-encoding":
            return None
    return length


class RequestBodyMiddleware:
    """Bound the wait for each chunk of a request body, the whole body, and its size."""

    def __init__(
        self, app: ASGIApp, *, idle: float, total: float, max_bytes: int, per_client: int
    ) -> None:
        self.app = app
        self.idle = idle
        self.total = total
        self.max_bytes = max_bytes
        self.per_client = per_client
        self.arriving: Counter[str] = Counter()
        """Bodies still arriving, by client network (this worker's)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = body_length(scope)
        if declared == 0:
            await self.app(scope, receive, send)
            return
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send, BodyTooLarge(self.max_bytes))
            return
        network = ""  # the client's, found at the first read
        deadline = time.monotonic() + self.total
        complete = False
        counted = False  # a body counts from its first read (HTTP/2 GETs declare no length)
        started = False
        received = 0

        def arrived() -> None:
            nonlocal complete, counted
            complete = True
            if counted:
                counted = False
                self.arriving[network] -= 1
                if self.arriving[network] <= 0:
                    del self.arriving[network]

        async def bounded_receive() -> Message:
            nonlocal received, counted, network
            if complete:
                return await receive()
            if not counted:
                client = scope.get("client")
                network = network_of(str(client[0])) if client else ""
                if self.arriving[network] >= self.per_client:
                    raise TooManyBodies
                self.arriving[network] += 1
                counted = True
            wait = min(self.idle, deadline - time.monotonic())
            if wait <= 0:
                raise BodyTimeout
            try:
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError:
                raise BodyTimeout from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            if message["type"] != "http.request" or not message.get("more_body", False):
                arrived()
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, watched_send)
        except (BodyTimeout, BodyTooLarge, TooManyBodies) as exc:
            # Raised where no exception handler reaches (middleware reading the form).
            logger.info("Request body refused (%s) on %s %s", exc.status_code,
                        scope["method"], scope["path"])  # fmt: skip
            if not started:
                await self._refuse(scope, receive, send, exc)
        finally:
            arrived()  # a route that never read its body, or one refused

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, exc: HTTPException) -> None:
        request = Request(scope, receive)
        response = error_response(
            request, exc.status_code, messages=[str(exc.detail)], headers=exc.headers
        )
        await response(scope, receive, send)
