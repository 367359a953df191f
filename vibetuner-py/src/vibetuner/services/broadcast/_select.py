"""The process's broadcaster (Redis when REDIS_URL is set, else in-process) and `broadcast`."""

from __future__ import annotations

import json
from typing import Any

from vibetuner.config import get_settings
from vibetuner.data._redis import get_redis
from vibetuner.services._chosen import Chosen
from vibetuner.services.broadcast._base import Broadcaster, Event
from vibetuner.services.broadcast._memory import MemoryBroadcaster
from vibetuner.services.broadcast._redis import RedisBroadcaster


def get_broadcaster() -> Broadcaster:
    """The process's broadcaster, chosen once so publishers and SSE streams share it."""
    return _broadcaster.get()


def set_broadcaster(broadcaster: Broadcaster | None) -> None:
    """Replace the broadcaster (tests, or a custom backend); None re-chooses from settings."""
    _broadcaster.set(broadcaster)


async def close_broadcaster() -> None:
    """Stop the Redis listener at shutdown (before the Redis pool closes); forget the choice."""
    broadcaster = _broadcaster.take()
    if broadcaster is not None:
        await broadcaster.aclose()


async def broadcast(channel: str, data: Any, event: str | None = None) -> Event:
    """Send `data` (HTML, or anything JSON-serialisable) to every subscriber of `channel`.

    Without `event`, htmx's SSE extension swaps the data into the connected element;
    with it, htmx dispatches a DOM event of that name instead.
    """
    if event is not None and (not event or any(ch in event for ch in "\r\n")):
        raise ValueError(f"An event name must be one non-empty line, got {event!r}")
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return await get_broadcaster().publish(channel, text, event)


def _choose() -> Broadcaster:
    replay_size = get_settings().sse_replay_buffer
    redis = get_redis()
    if redis is not None:
        return RedisBroadcaster(redis, replay_size=replay_size)

    return MemoryBroadcaster(replay_size=replay_size)


_broadcaster = Chosen(_choose)
