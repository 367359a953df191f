"""Redis clients on coredis that any task can use.

coredis ties a client's connections to a task that has entered it (`async with client`).
A web app uses its clients from many request tasks, so each pool here enters itself on
first use from a task of its own, which holds it open until `close_client`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from coredis import ConnectionPool, Redis

if TYPE_CHECKING:
    from coredis.connection import BaseConnection

T = TypeVar("T")
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0
_OPENING = contextvars.ContextVar("vibetuner_redis_opening", default=False)
"""Set in the task that enters a pool, so what the pool starts while opening does not wait
for the opening to finish."""


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


class BatchedReader:
    """GETs asked for in the same event-loop turn go to Redis as one MGET.

    Each request still reads Redis after it started (the MGET leaves once the turn ends),
    so nothing is served stale; under load, many requests share one round trip.
    """

    def __init__(self, client: Redis[bytes]) -> None:
        self.client = client
        self._waiting: dict[str, list[asyncio.Future[bytes | None]]] = {}

    async def get(self, key: str) -> bytes | None:
        loop = asyncio.get_running_loop()
        if not self._waiting:
            loop.call_soon(self._send)
        future: asyncio.Future[bytes | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(future)
        return await future

    def _send(self) -> None:
        batch, self._waiting = self._waiting, {}
        task = asyncio.ensure_future(self._fetch(batch))
        _IN_FLIGHT.add(task)
        task.add_done_callback(_IN_FLIGHT.discard)

    async def _fetch(self, batch: dict[str, list[asyncio.Future[bytes | None]]]) -> None:
        keys = list(batch)
        futures = [future for waiting in batch.values() for future in waiting]
        try:
            if len(keys) == 1:
                values = [await self.client.get(keys[0])]
            else:
                values = list(await self.client.mget(keys))
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()
            raise
        except Exception as exc:
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        for key, value in zip(keys, values, strict=True):
            for future in batch[key]:
                if not future.done():
                    future.set_result(value)


_IN_FLIGHT: set[asyncio.Task[None]] = set()
"""Batches being fetched (the loop keeps only weak references to tasks)."""
