"""Events, subscriptions and the broadcaster interface the memory and Redis backends share.

A `Hub` fans events out to this process's subscribers; each subscriber has its own bounded
queue, so one slow client loses its oldest events instead of slowing everyone down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

QUEUE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Event:
    """One broadcast message; `id` orders it within its channel for Last-Event-ID replay."""

    id: str
    data: str
    event: str | None = None


class Subscription:
    """One listener's queue on one channel; read with `await sub.next(within=s)` or `async for`."""

    def __init__(self, channel: str, maxsize: int = QUEUE_SIZE) -> None:
        self.channel = channel
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)

    def push(self, event: Event) -> None:
        """Queue `event`, dropping the oldest one when the listener has fallen behind."""
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
        self._queue.put_nowait(event)

    async def next(self, within: float | None = None) -> Event | None:
        """The next event, or None after `within` quiet seconds (the time for a keepalive)."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        if within is None:
            return await self._queue.get()
        try:
            return await asyncio.wait_for(self._queue.get(), within)
        except TimeoutError:
            return None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self._queue.get()


class Hub:
    """This process's subscribers, by channel."""

    def __init__(self) -> None:
        self._channels: dict[str, set[Subscription]] = {}

    def add(self, sub: Subscription) -> None:
        self._channels.setdefault(sub.channel, set()).add(sub)

    def remove(self, sub: Subscription) -> None:
        subs = self._channels.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._channels[sub.channel]

    def deliver(self, channel: str, event: Event) -> None:
        for sub in list(self._channels.get(channel, ())):
            sub.push(event)

    def count(self, channel: str | None = None) -> int:
        """How many subscriptions are open (on `channel`, or on any channel)."""
        if channel is not None:
            return len(self._channels.get(channel, ()))
        return sum(len(subs) for subs in self._channels.values())


class Broadcaster(Protocol):
    """Publishes to every subscriber of a channel and keeps the last N events for replay."""

    async def publish(self, channel: str, data: str, event: str | None = None) -> Event:
        """Send `data` to every subscriber of `channel`; return the event with its id."""
        ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        """Listen to `channel` until the block exits; the subscription is live on entry."""
        ...

    async def replay(self, channel: str, after: str) -> list[Event]:
        """Buffered events newer than id `after` (none when `after` is unknown)."""
        ...

    def subscribers(self, channel: str | None = None) -> int:
        """Open subscriptions in this process (tests use it to prove nothing leaks)."""
        ...

    async def aclose(self) -> None:
        """Stop background work (the Redis listener)."""
        ...
