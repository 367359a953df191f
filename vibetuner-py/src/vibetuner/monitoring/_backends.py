"""Latency of Redis calls, and the active-session counts for each store (MongoDB's
commands are timed by the listeners of `_db`)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeVar

from vibetuner.monitoring import _registry as metrics

if TYPE_CHECKING:
    from coredis import Redis
    from coredis.commands import CommandRequest
    from coredis.patterns.pipeline import Pipeline
    from pymongo.asynchronous.collection import AsyncCollection

_R = TypeVar("_R", bound="Redis[Any]")
_INSTRUMENTED = "_vibetuner_instrumented"
SESSION_COUNT_CAP = 100_000
"""Counting Redis sessions scans keys: stop here and report the cap rather than stall."""


def instrument_redis(client: _R) -> _R:
    """Time every command and pipeline of this client into `vibetuner_redis_call_seconds`.

    coredis's own metrics need OpenTelemetry; wrapping the two entry points of the instance
    (`execute_command`, which every command and script goes through, and `pipeline`, which
    runs its commands when its block exits) costs one clock pair per call. Idempotent.
    """
    if getattr(client, _INSTRUMENTED, False):
        return client
    execute_command: Callable[[CommandRequest[Any]], Awaitable[Any]] = client.execute_command
    make_pipeline: Callable[..., Pipeline[Any]] = client.pipeline

    @functools.wraps(execute_command)
    async def timed_command(command: CommandRequest[Any]) -> Any:
        return await _timed(command.name.decode().upper(), execute_command(command))

    @asynccontextmanager
    async def timed_pipeline(*args: Any, **kwargs: Any) -> AsyncIterator[Pipeline[Any]]:
        start = perf_counter()
        try:
            async with make_pipeline(*args, **kwargs) as pipe:
                yield pipe
        except Exception:
            metrics.REDIS_ERROR_CHILDREN.get("PIPELINE").inc()
            raise
        finally:
            metrics.REDIS_CHILDREN.get("PIPELINE").observe(perf_counter() - start)

    setattr(client, "execute_command", timed_command)  # noqa: B010 (an instance attribute)
    setattr(client, "pipeline", functools.wraps(make_pipeline)(timed_pipeline))  # noqa: B010
    setattr(client, _INSTRUMENTED, True)
    return client


async def _timed(command: str, call: Awaitable[Any]) -> Any:
    start = perf_counter()
    try:
        return await call
    except Exception:
        metrics.REDIS_ERROR_CHILDREN.get(command).inc()
        raise
    finally:
        metrics.REDIS_CHILDREN.get(command).observe(perf_counter() - start)


async def count_mongo_sessions(collection: AsyncCollection[dict[str, Any]]) -> int:
    """Unexpired sessions in the MongoDB store (the TTL sweep lags, so filter on expiry)."""
    return int(await collection.count_documents({"expires_at": {"$gt": datetime.now(UTC)}}))


async def count_redis_sessions(
    redis: Redis[Any], *, pattern: str = "session:*", cap: int = SESSION_COUNT_CAP
) -> int:
    """Keys of the Redis store, by SCAN (never KEYS); stops at `cap`. Redis expires them."""
    count = 0
    async for _ in redis.scan_iter(match=pattern, count=1000):
        count += 1
        if count >= cap:
            break
    return count
