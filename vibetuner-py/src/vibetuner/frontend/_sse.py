"""Server-Sent Events for a broadcast channel: `return sse_response(request, "posts")`.

The stream subscribes before it sends its headers (so a client that has the headers
misses nothing), replays what came after the client's Last-Event-ID, sends a comment
every SSE_KEEPALIVE_SECONDS so proxies keep the connection open, and unsubscribes as
soon as the client goes away or the server begins to shut down.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from vibetuner.config import get_settings
from vibetuner.server import _drain
from vibetuner.services.broadcast import Broadcaster, Event, Subscription, get_broadcaster

_LINES = re.compile(r"\r\n|\r|\n")
CONNECTED = b": connected\n\n"
KEEPALIVE = b": keepalive\n\n"


def format_event(event: Event) -> bytes:
    """One SSE message: `id:`, `event:` and a `data:` line per line of data."""
    lines = [f"id: {event.id}"]
    if event.event:
        lines.append(f"event: {event.event}")
    lines.extend(f"data: {line}" for line in _LINES.split(event.data))
    return ("\n".join(lines) + "\n\n").encode()


class EventStreamResponse(Response):
    """A `text/event-stream` of one channel, ended when the client disconnects."""

    media_type = "text/event-stream"

    def __init__(
        self,
        channel: str,
        *,
        broadcaster: Broadcaster,
        last_event_id: str | None = None,
        keepalive: float = 15.0,
        headers: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> None:
        self.channel = channel
        self.broadcaster = broadcaster
        self.last_event_id = last_event_id
        self.keepalive = keepalive
        self.status_code = status_code  # a parameter, so FastAPI can document the route
        self.background = None
        self.init_headers(
            {"Cache-Control": "no-store", "X-Accel-Buffering": "no", **(headers or {})}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with self.broadcaster.subscribe(self.channel) as sub:
            start = {"type": "http.response.start", "status": self.status_code}
            await send({**start, "headers": self.raw_headers})
            await _chunk(send, CONNECTED)
            stream = asyncio.ensure_future(self._stream(sub, send))
            disconnect = asyncio.ensure_future(_wait_for_disconnect(receive))
            # Shutdown began: end the stream so it does not hold the server open; the
            # browser reconnects (with Last-Event-ID) to an instance that stays.
            draining = asyncio.ensure_future(_drain.wait())
            tasks = {stream, disconnect, draining}
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, OSError):
                        await task

    async def _stream(self, sub: Subscription, send: Send) -> None:
        seen: set[str] = set()
        if self.last_event_id:
            for old in await self.broadcaster.replay(self.channel, self.last_event_id):
                seen.add(old.id)
                await _chunk(send, format_event(old))
        while True:
            item = await sub.next(within=self.keepalive)
            if item is None:
                body = KEEPALIVE
            elif item.id in seen:
                continue
            else:
                body = format_event(item)
            await _chunk(send, body)


async def _chunk(send: Send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def sse_response(
    request: Request,
    channel: str,
    *,
    broadcaster: Broadcaster | None = None,
    keepalive: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> EventStreamResponse:
    """Stream `channel` to this client, replaying after its `Last-Event-ID` header."""
    if keepalive is None:
        keepalive = get_settings().sse_keepalive_seconds
    return EventStreamResponse(
        channel,
        broadcaster=broadcaster or get_broadcaster(),
        last_event_id=request.headers.get("last-event-id"),
        keepalive=keepalive,
        headers=headers,
    )
