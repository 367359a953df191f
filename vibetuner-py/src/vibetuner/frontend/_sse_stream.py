"""The live stream behind `EventStreamResponse`, loaded with the first one (see `_sse`).

The stream is sse-starlette's `EventSourceResponse` (it notices disconnects, sends a
comment every SSE_KEEPALIVE_SECONDS so proxies keep the connection open, and drops a
client that stops reading for SSE_SEND_TIMEOUT). A dropped client's connection is then
reset (see `server._sockets`). Around it, the stream holds its slots (see
`_stream_slots`: 429 or 503 past a cap) and subscribes before it sends its headers (so a
client that has the headers misses nothing), replays what came after the client's
Last-Event-ID, and ends as soon as the server begins to shut down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping

from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.types import Receive, Scope, Send

from vibetuner.frontend._stream_slots import stream_slots
from vibetuner.server import _drain
from vibetuner.server._sockets import PEER, peer_of, reset_connection
from vibetuner.services.broadcast import Broadcaster, Event, Subscription

logger = logging.getLogger("vibetuner.sse")

SEP = "\n"
CONNECTED = b": connected\n\n"
KEEPALIVE = ServerSentEvent(comment="keepalive", sep=SEP)


def format_event(event: Event) -> bytes:
    """One SSE message: `id:`, `event:` and a `data:` line per line of data."""
    return ServerSentEvent(event.data, id=event.id, event=event.event, sep=SEP).encode()


async def _nothing() -> AsyncIterator[bytes]:
    """The body until `__call__` subscribes."""
    return
    yield  # pragma: no cover - makes this an async generator


class ChannelStream(EventSourceResponse):
    """The channel's events on sse-starlette: what `EventStreamResponse(...)` makes."""

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
        send_timeout: float | None = None,
    ) -> None:
        self.channel = channel
        self.broadcaster = broadcaster
        self.last_event_id = last_event_id
        self.keepalive = keepalive
        super().__init__(
            _nothing(),
            status_code=status_code,  # a parameter, so FastAPI can document the route
            headers=headers,
            ping=keepalive,
            sep=SEP,
            ping_message_factory=lambda: KEEPALIVE,
            send_timeout=send_timeout,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with stream_slots(scope), self.broadcaster.subscribe(self.channel) as sub:
            self.body_iterator = self._events(sub)
            try:
                await super().__call__(scope, receive, send)
            except SendTimeoutError:
                logger.info("Dropped a live stream on %s: its client stopped reading", self.channel)
                # What could not be sent would hold the connection, and the server's stop.
                # Not an HTTP/2 connection from a proxy: other clients' requests share it.
                if scope.get("http_version") != "2" or PEER not in scope:
                    await asyncio.to_thread(reset_connection, peer_of(scope), scope.get("server"))

    async def _events(self, sub: Subscription) -> AsyncIterator[bytes]:
        yield CONNECTED
        seen: set[str] = set()
        if self.last_event_id:
            for old in await self.broadcaster.replay(self.channel, self.last_event_id):
                seen.add(old.id)
                yield format_event(old)
        # Shutdown began: end the stream so it does not hold the server open; the
        # browser reconnects (with Last-Event-ID) to an instance that stays.
        draining = asyncio.ensure_future(_drain.wait())
        upcoming: asyncio.Future[Event | None] | None = None
        try:
            while True:
                upcoming = asyncio.ensure_future(sub.next())
                await asyncio.wait({upcoming, draining}, return_when=asyncio.FIRST_COMPLETED)
                if not upcoming.done():
                    return
                item = upcoming.result()
                if item is not None and item.id not in seen:
                    yield format_event(item)
        finally:
            draining.cancel()
            if upcoming is not None:
                upcoming.cancel()
