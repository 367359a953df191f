"""Latency of MongoDB and Redis calls, and the active-session counts for each store."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeVar

from pymongo import monitoring

from vibetuner.monitoring import _registry as metrics

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

    from vibetuner._resp import LeanRedis

_R = TypeVar("_R", bound="Redis | LeanRedis")
_INSTRUMENTED = "_vibetuner_instrumented"
SESSION_COUNT_CAP = 100_000
"""Counting Redis sessions scans keys: stop here and report the cap rather than stall."""


class MongoLatencyListener(monitoring.CommandListener):
    """Observe `vibetuner_db_call_seconds{operation}` from the driver's own command timings.

    pymongo measures each command (`duration_micros`), so no clock is read and no state is
    kept between the started and finished events.
    """

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        metrics.DB_CHILDREN.get(event.command_name).observe(event.duration_micros / 1e6)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        metrics.DB_CHILDREN.get(event.command_name).observe(event.duration_micros / 1e6)
        metrics.DB_ERROR_CHILDREN.get(event.command_name).inc()


def instrument_redis(client: _R) -> _R:
    """Time every command and pipeline of this client into `vibetuner_redis_call_seconds`.

    redis-py's own metrics need OpenTelemetry; wrapping the two entry points of the instance
    (`execute_command`, `pipeline().execute`) costs one clock pair per call. The lean
    session reader has no pipelines. Idempotent.
    """
    if getattr(client, _INSTRUMENTED, False):
        return client
    execute_command: Callable[..., Awaitable[Any]] = client.execute_command
    make_pipeline = getattr(client, "pipeline", None)

    @functools.wraps(execute_command)
    async def timed_command(*args: Any, **options: Any) -> Any:
        name = args[0] if args else "unknown"
        name = name.decode() if isinstance(name, bytes) else str(name)
        return await _timed(name.upper(), execute_command(*args, **options))

    def timed_pipeline(*args: Any, **kwargs: Any) -> Pipeline:
        assert make_pipeline is not None
        pipe: Pipeline = make_pipeline(*args, **kwargs)
        execute: Callable[..., Awaitable[Any]] = pipe.execute

        @functools.wraps(execute)
        async def timed_execute(*a: Any, **kw: Any) -> Any:
            return await _timed("PIPELINE", execute(*a, **kw))

        setattr(pipe, "execute", timed_execute)  # noqa: B010 (an instance attribute)
        return pipe

    client.execute_command = timed_command  # type: ignore[method-assign]
    if make_pipeline is not None:
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
    redis: Redis, *, pattern: str = "session:*", cap: int = SESSION_COUNT_CAP
) -> int:
    """Keys of the Redis store, by SCAN (never KEYS); stops at `cap`. Redis expires them."""
    count = 0
    async for _ in redis.scan_iter(match=pattern, count=1000):
        count += 1
        if count >= cap:
            break
    return count
