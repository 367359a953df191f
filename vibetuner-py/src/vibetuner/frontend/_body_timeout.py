"""Request bodies must keep arriving: a 408 for a body that pauses too long or takes too long.

Granian bounds how long the headers may take (SERVER_HEADER_TIMEOUT) but not the body,
so a client could hold a worker's place for ever by sending a byte now and then. Each
`receive()` waits at most REQUEST_BODY_IDLE_TIMEOUT for the next chunk, and the whole
body must be in within REQUEST_BODY_TIMEOUT of the request's start. Once the body is
complete, `receive()` is left alone (streams wait on it for the disconnect). The size
of a body is FastAPI's to bound (`max_body_size`, from REQUEST_MAX_BODY_BYTES).
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibetuner.frontend._errors import error_response
from vibetuner.i18n import _

logger = logging.getLogger("vibetuner.requests")


class BodyTimeout(HTTPException):
    """The body stopped arriving: 408, and the connection closes."""

    def __init__(self) -> None:
        message = _("The request took too long to arrive. Please try again.")
        super().__init__(408, message, headers={"Connection": "close"})


class RequestBodyTimeoutMiddleware:
    """Bound the wait for each chunk of a request body, and for the whole body."""

    def __init__(self, app: ASGIApp, *, idle: float, total: float) -> None:
        self.app = app
        self.idle = idle
        self.total = total

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = time.monotonic() + self.total
        complete = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            wait = min(self.idle, deadline - time.monotonic())
            if wait <= 0:
                raise BodyTimeout
            try:
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError:
                raise BodyTimeout from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, watched_send)
        except BodyTimeout as exc:
            # Raised where no exception handler reaches (middleware reading the form).
            logger.info("Request body too slow on %s %s", scope["method"], scope["path"])
            if started:
                return
            request = Request(scope, receive)
            response = error_response(
                request, exc.status_code, messages=[str(exc.detail)], headers=exc.headers
            )
            await response(scope, receive, send)
