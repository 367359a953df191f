"""Server-Sent Events for a broadcast channel: `return sse_response(request, "posts")`.

Apps name `EventStreamResponse` when their routes are declared (`response_class=`), but the
stream itself (`_sse_stream`, on sse-starlette, which loads uvicorn) loads with the first
live stream: declaring a stream route costs nothing at startup.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vibetuner.config import get_settings
from vibetuner.services.broadcast import Broadcaster, get_broadcaster


class EventStreamResponse(Response):
    """A `text/event-stream` of one channel, ended when the client disconnects.

    Constructing one makes an instance of `_live_stream()`, a subclass of this class and of
    `_sse_stream.ChannelStream` (on sse-starlette), which is imported then."""

    media_type = "text/event-stream"

    def __new__(cls, *args: Any, **kwargs: Any) -> EventStreamResponse:
        return super().__new__(_live_stream() if cls is EventStreamResponse else cls)

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


@functools.cache
def _live_stream() -> type[EventStreamResponse]:
    """The class `EventStreamResponse(...)` makes: the stream first, so its methods win."""
    from vibetuner.frontend._sse_stream import ChannelStream  # sse-starlette: first live stream

    class LiveStream(ChannelStream, EventStreamResponse):
        """A channel's live stream (see `_sse_stream`)."""

    return LiveStream


def sse_response(
    request: Request,
    channel: str,
    *,
    broadcaster: Broadcaster | None = None,
    keepalive: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> EventStreamResponse:
    """Stream `channel` to this client, replaying after its `Last-Event-ID` header."""
    settings = get_settings()
    return EventStreamResponse(
        channel,
        broadcaster=broadcaster or get_broadcaster(),
        last_event_id=request.headers.get("last-event-id"),
        keepalive=settings.sse_keepalive_seconds if keepalive is None else keepalive,
        headers=headers,
        send_timeout=settings.sse_send_timeout,
    )
