"""Live updates: `await broadcast(channel, html)` reaches every subscriber on every instance.

With REDIS_URL, events travel over Redis pub/sub and the last SSE_REPLAY_BUFFER events of
each channel stay in a capped Redis stream, so any instance can replay them to a client
that reconnects with Last-Event-ID. Without Redis, everything stays in this process.
Serve a channel to browsers with `vibetuner.frontend._sse.sse_response`.
"""

from __future__ import annotations

from vibetuner.services.broadcast._base import Broadcaster, Event, Subscription
from vibetuner.services.broadcast._memory import MemoryBroadcaster
from vibetuner.services.broadcast._redis import RedisBroadcaster
from vibetuner.services.broadcast._select import (
    broadcast,
    close_broadcaster,
    get_broadcaster,
    set_broadcaster,
)

__all__ = [
    "Broadcaster",
    "Event",
    "MemoryBroadcaster",
    "RedisBroadcaster",
    "Subscription",
    "broadcast",
    "close_broadcaster",
    "get_broadcaster",
    "set_broadcaster",
]
