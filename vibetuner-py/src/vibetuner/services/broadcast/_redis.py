"""Broadcasting through Redis: pub/sub reaches every instance, a capped stream replays.

Each process holds one pub/sub connection (opened while it has subscribers) and fans the
messages out locally. Publishing is one Lua script: append to the channel's stream
(capped at `replay_size` entries, ids from Redis) and publish, so the id a subscriber
sees live is the id it will replay with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from vibetuner.services.broadcast._base import Event, Hub, Subscription

if TYPE_CHECKING:
    from coredis import Redis
    from coredis.commands import Script
    from coredis.response.types import PubSubMessage

log = logging.getLogger(__name__)

# KEYS[1]: the channel's stream. ARGV: max length, pub/sub channel, channel, event, data, ttl.
_PUBLISH = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'e', ARGV[4], 'd', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('PUBLISH', ARGV[2], cjson.encode({c = ARGV[3], i = id, e = ARGV[4], d = ARGV[5]}))
return id
"""
_STREAM_ID = re.compile(r"[0-9]{1,19}-[0-9]{1,19}")
STREAM_TTL = 24 * 3600
"""A channel nobody publishes to for a day forgets its replay buffer."""


class RedisBroadcaster:
    """Shared by every process on the same Redis; keys and the pub/sub channel use `prefix`."""

    def __init__(
        self, redis: Redis[bytes], *, replay_size: int = 100, prefix: str = "vibetuner:broadcast:"
    ) -> None:
        self._redis = redis
        self._replay_size = replay_size
        self._prefix = prefix
        self._pubsub_channel = prefix + "events"
        self._script: Script[bytes] = redis.register_script(_PUBLISH)
        self._hub = Hub()
        self._lock = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def publish(self, channel: str, data: str, event: str | None = None) -> Event:
        """Append to the channel's stream and publish to every instance, atomically."""
        args: list[str | int] = [
            self._replay_size,
            self._pubsub_channel,
            channel,
            event or "",
            data,
            STREAM_TTL,
        ]
        raw_id: bytes = await self._script(keys=[self._prefix + "stream:" + channel], args=args)
        return Event(id=_text(raw_id), data=data, event=event)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        """Listen to `channel`; on entry this process's pub/sub connection is subscribed."""
        sub = Subscription(channel)
        async with self._lock:
            self._hub.add(sub)
            try:
                await self._start_listener()
            except BaseException:
                self._hub.remove(sub)
                raise
        try:
            yield sub
        finally:
            async with self._lock:
                self._hub.remove(sub)
                if self._hub.count() == 0:
                    await self._stop_listener()

    async def replay(self, channel: str, after: str) -> list[Event]:
        """Stream entries after id `after` (an exclusive range), oldest first."""
        if not _STREAM_ID.fullmatch(after):
            return []
        key = self._prefix + "stream:" + channel
        entries = await self._redis.xrange(key, "(" + after, "+")
        return [_event(entry.identifier, entry.field_values) for entry in entries]

    def subscribers(self, channel: str | None = None) -> int:
        return self._hub.count(channel)

    async def aclose(self) -> None:
        """Stop listening (subscriptions still open get no further events)."""
        async with self._lock:
            await self._stop_listener()

    async def _start_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._ready = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(), name="vibetuner-broadcast")
        ready = asyncio.ensure_future(self._ready.wait())
        done, _ = await asyncio.wait({ready, self._listener}, return_when="FIRST_COMPLETED")
        if ready not in done:
            ready.cancel()
            self._listener.result()  # raises why the listener could not subscribe

    async def _stop_listener(self) -> None:
        task, self._listener = self._listener, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _listen(self) -> None:
        """Subscribe once, then deliver; after a lost connection, reconnect with backoff
        (ours, not coredis's, which would retry the first subscription forever)."""
        delay = 0.5
        while True:
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True, retry_policy=None)
                async with pubsub:
                    await pubsub.subscribe(self._pubsub_channel)
                    self._ready.set()
                    delay = 0.5
                    async for message in pubsub:
                        self._deliver(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._ready.is_set():
                    raise _leaf(exc) from None
            log.warning("Broadcast listener lost Redis; retrying in %.1fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _deliver(self, message: PubSubMessage) -> None:
        data = message["data"]
        if message["type"] != "message" or isinstance(data, int):
            return
        try:
            raw = json.loads(data)
            item = Event(id=raw["i"], data=raw["d"], event=raw["e"] or None)
            self._hub.deliver(raw["c"], item)
        except (ValueError, KeyError, TypeError):
            log.warning("Ignoring a malformed broadcast message")


def _leaf(exc: Exception) -> Exception:
    """The error inside coredis's task-group wrapping (a group holding one error)."""
    while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _event(entry_id: bytes | str, fields: Mapping[Any, Any]) -> Event:
    values = {_text(k): _text(v) for k, v in fields.items()}
    return Event(id=_text(entry_id), data=values.get("d", ""), event=values.get("e") or None)
