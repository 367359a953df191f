"""Redis clients on coredis that any task can use, and the cached reader for sessions.

coredis ties a client's connections to a task that has entered it (`async with client`).
A web app uses its clients from many request tasks, so each pool here enters itself on
first use from a task of its own, which holds it open until `close_client`.

Session reads go through a second client whose GETs coredis caches in the process (server
assisted client-side caching, `CLIENT TRACKING`): Redis tells its tracking connection as
soon as any client changes or deletes a key it read, and coredis drops the copy.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import Counter, OrderedDict
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

from coredis import ConnectionPool, Redis
from coredis.patterns.cache import AbstractCache, CacheStats

from vibetuner.config import ascii_int

if TYPE_CHECKING:
    from coredis.connection import BaseConnection
    from coredis.typing import RedisValueT, ResponseType

T = TypeVar("T")
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0
_OPENING = contextvars.ContextVar("vibetuner_redis_opening", default=False)
"""Set in the task that enters a pool, so what the pool starts while opening (the tracking
cache's connection) does not wait for the opening to finish."""


class SelfOpeningPool(ConnectionPool[Any]):
    """A coredis pool that enters itself on first use, from a task that keeps it open."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._ready: asyncio.Future[None] | None = None
        self._closing = asyncio.Event()
        self._owner: asyncio.Task[None] | None = None

    async def get_connection(self, **options: Any) -> BaseConnection:
        ready = self._ready
        if (ready is None or not ready.done() or ready.exception()) and not _OPENING.get():
            await self.open()
        connection: BaseConnection = await super().get_connection(**options)
        return connection

    async def open(self) -> None:
        """Enter the pool (once; again after a failed attempt or a close)."""
        ready = self._ready
        if ready is None or (ready.done() and ready.exception() is not None):
            ready = self._ready = asyncio.get_running_loop().create_future()
            self._closing = asyncio.Event()
            self._owner = asyncio.create_task(self._own(ready, self._closing))
        await asyncio.shield(ready)

    async def _own(self, ready: asyncio.Future[None], closing: asyncio.Event) -> None:
        _OPENING.set(True)
        try:
            async with self:
                _OPENING.set(False)
                ready.set_result(None)
                await closing.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
                ready.exception()  # retrieved here: the caller of open() re-raises it
            elif not isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            if self._ready is ready:  # the pool went down: the next use opens it again
                self._ready = None

    async def close(self) -> None:
        """Leave the pool: its connections close, and the next use opens it again."""
        owner, self._owner, self._ready = self._owner, None, None
        if owner is not None:
            self._closing.set()
            await asyncio.gather(owner, return_exceptions=True)


def open_client(url: str, *, command_timeout: float = COMMAND_TIMEOUT) -> Redis[bytes]:
    """A client for `url` (redis://, rediss://, unix://; password and database included)
    whose pool opens on first use; close it with `close_client`."""
    pool = SelfOpeningPool.from_url(
        url,
        decode_components=True,
        connect_timeout=CONNECT_TIMEOUT,
        stream_timeout=command_timeout,
    )
    return Redis(connection_pool=pool)


async def close_client(client: Redis[Any]) -> None:
    pool = client.connection_pool
    if isinstance(pool, SelfOpeningPool):
        await pool.close()


def run_sync(work: Coroutine[Any, Any, T]) -> T:
    """Run coredis calls from sync code (CLI checks): `asyncio.run`, on a thread of its own
    when this thread is already running an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, work).result()


class LocalCache(AbstractCache):
    """What the tracking client keeps in memory: at most `max_keys` keys, least recently
    used dropped first. Unlike coredis's `LRUCache` it keeps no per-key statistics (they
    would grow with every session ever read), and it counts invalidations, so a read that
    raced one can drop what it just stored (see `CachedReader.get`)."""

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.changes = 0
        self._entries: OrderedDict[bytes, dict[tuple[Any, ...], ResponseType]] = OrderedDict()
        self._totals: Counter[str] = Counter()

    def get(self, command: bytes, key: RedisValueT, *args: RedisValueT) -> ResponseType:
        name = _bytes(key)
        entry = self._entries.get(name)
        if entry is None or (command, *args) not in entry:
            self._totals["misses"] += 1
            raise KeyError(key)
        self._entries.move_to_end(name)
        self._totals["hits"] += 1
        return entry[(command, *args)]

    def put(
        self, command: bytes, key: RedisValueT, *args: RedisValueT, value: ResponseType
    ) -> None:
        name = _bytes(key)
        entry = self._entries.get(name)
        if entry is None:
            if len(self._entries) >= self.max_keys:
                self._entries.popitem(last=False)
            entry = self._entries[name] = {}
        entry[(command, *args)] = value
        self._entries.move_to_end(name)

    def invalidate(self, *keys: RedisValueT) -> None:
        self.changes += 1
        for key in keys:
            if self._entries.pop(_bytes(key), None) is not None:
                self._totals["invalidations"] += 1

    def reset(self) -> None:
        self.changes += 1
        self._entries.clear()

    @property
    def stats(self) -> CacheStats:
        hits, misses, invalidations = (
            Counter({b"all": self._totals[name]}) for name in ("hits", "misses", "invalidations")
        )
        return CacheStats(hits=hits, misses=misses, invalidations=invalidations)

    @property
    def confidence(self) -> float:
        return 100.0

    def feedback(self, command: bytes, key: RedisValueT, *args: RedisValueT, match: bool) -> None:
        if not match:
            self.invalidate(key)

    @property
    def healthy(self) -> bool:
        return True

    @property
    def size(self) -> int:
        """Keys held now (not `__len__`: coredis tests the cache for truth)."""
        return len(self._entries)


@dataclass(frozen=True)
class CachedReader:
    """GETs served from this process while Redis has not invalidated them."""

    client: Redis[bytes]
    cache: LocalCache

    @classmethod
    def from_url(cls, url: str, *, cache_size: int) -> CachedReader | None:
        """None when `url` is not a plain redis:// or rediss:// address (query options and
        unix sockets stay with the uncached client)."""
        address = _address(url)
        if address is None or cache_size <= 0:
            return None
        cache = LocalCache(cache_size)
        client = Redis(
            **address,
            cache=cache,
            connection_pool_cls=SelfOpeningPool,
            connect_timeout=CONNECT_TIMEOUT,
            stream_timeout=COMMAND_TIMEOUT,
        )
        return cls(client, cache)

    async def get(self, key: str) -> bytes | None:
        tracking = self.client.connection_pool.cache
        if tracking is not None and tracking.healthy:
            try:  # what coredis would answer from the cache, without its command machinery
                return cast(bytes | None, tracking.get(b"GET", key, key))
            except KeyError:
                pass
        changes = self.cache.changes
        value = await self.client.get(key)
        if self.cache.changes != changes:
            # An invalidation arrived while this GET was in flight; it may have been for
            # this key and handled before coredis stored the reply: do not keep it.
            self.cache.invalidate(key)
        return value

    def forget(self, *keys: str) -> None:
        """Drop values this process has just changed through another client."""
        self.cache.invalidate(*keys)

    async def close(self) -> None:
        await close_client(self.client)


def _address(url: str) -> dict[str, Any] | None:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or parts.query or not parts.hostname:
        return None
    path = parts.path.strip("/")
    db = ascii_int(path or "0", max_digits=5)
    if db is None:
        return None
    try:
        port = parts.port or 6379
    except ValueError:
        return None
    return {
        "host": parts.hostname,
        "port": port,
        "db": db,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password is not None else None,
        "ssl": parts.scheme == "rediss",
    }


def _bytes(value: RedisValueT) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
