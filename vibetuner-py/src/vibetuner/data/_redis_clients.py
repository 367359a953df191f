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
