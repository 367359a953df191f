"""Request IDs: kept from `X-Request-ID` when well-formed, else generated, and put on logs."""

from __future__ import annotations

import itertools
import logging
import os
import re
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
NO_REQUEST = "-"
VALID_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")

request_id_var: ContextVar[str] = ContextVar("vibetuner_request_id", default=NO_REQUEST)


def get_request_id() -> str:
    """The current request's ID, or "-" outside a request (jobs, startup)."""
    return request_id_var.get()


class RequestIDFilter(logging.Filter):
    """Stamp `request_id` on every record a handler emits, so each line can be traced."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class RequestIDMiddleware:
    """Give each HTTP request an ID: in the response header, `scope["request_id"]` and logs.

    An incoming ID is kept when it is at most 128 characters of [A-Za-z0-9._-] (a proxy or
    caller can trace through us); anything else is replaced, so logs never carry junk.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = _incoming(scope)
        if raw is not None and VALID_ID.fullmatch(raw):
            header = raw
            request_id = raw.decode("ascii")
        else:
            request_id = _next_id()
            header = request_id.encode("ascii")
        scope["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # a copy: apps may send one prebuilt message (a constant) many times
                headers = [*message.get("headers", ()), (HEADER, header)]
                message = {**message, "headers": headers}
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


_PREFIX = os.urandom(8).hex()
_counter = itertools.count(1)


def _next_id() -> str:
    """32 hex characters, unique across processes: a random per-process prefix and a
    counter, so no system call per request."""
    return f"{_PREFIX}{next(_counter):016x}"


def _reseed() -> None:
    """Forked workers must not share their parent's prefix."""
    global _PREFIX, _counter
    _PREFIX = os.urandom(8).hex()
    _counter = itertools.count(1)


os.register_at_fork(after_in_child=_reseed)


def _incoming(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            return bytes(value)
    return None
