"""In-process broadcasting: subscribers in this process only (development, one worker)."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from vibetuner.config import ascii_int
from vibetuner.services.broadcast._base import Event, Hub, Subscription


class MemoryBroadcaster:
    """Events get increasing integer ids; each channel keeps its last `replay_size`."""

    def __init__(self, *, replay_size: int = 100) -> None:
        self._hub = Hub()
        self._ids = itertools.count(1)
        self._replay_size = replay_size
        self._buffers: dict[str, deque[Event]] = {}

    async def publish(self, channel: str, data: str, event: str | None = None) -> Event:
        """Deliver to this process's subscribers and remember it for replay."""
        item = Event(id=str(next(self._ids)), data=data, event=event)
        if self._replay_size:
            buffer = self._buffers.setdefault(channel, deque(maxlen=self._replay_size))
            buffer.append(item)
        self._hub.deliver(channel, item)
        return item

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        """Listen to `channel` until the block exits."""
        sub = Subscription(channel)
        self._hub.add(sub)
        try:
            yield sub
        finally:
            self._hub.remove(sub)

    async def replay(self, channel: str, after: str) -> list[Event]:
        """Buffered events with an id greater than `after`."""
        last = ascii_int(after)
        if last is None:
            return []
        return [item for item in self._buffers.get(channel, ()) if int(item.id) > last]

    def subscribers(self, channel: str | None = None) -> int:
        return self._hub.count(channel)

    async def aclose(self) -> None:
        """Nothing runs in the background."""
