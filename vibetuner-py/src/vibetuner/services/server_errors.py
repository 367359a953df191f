"""The last server errors (500s) of every worker and instance, for the debug console.

Each worker keeps its own ring in memory (`monitoring.record_server_error`): it costs nothing
on the way to a 500 and holds when Redis is the thing that broke. With REDIS_URL set, each
500 is also pushed onto one capped Redis list, so the console shows every worker's errors,
whichever worker answers it. A push that failed loses nothing the answering worker saw: the
console shows the shared list and its own ring together.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from vibetuner.data._redis import get_redis
from vibetuner.monitoring import ServerError, recent_server_errors
from vibetuner.server._waits import wait_at_most

if TYPE_CHECKING:
    from coredis import Redis

logger = logging.getLogger("vibetuner.errors")

KEY = "vibetuner:server_errors"
SHARED_SIZE = 100
"""Errors the shared list keeps, across every worker; the oldest fall off."""
KEEP_SECONDS = 7 * 24 * 3600
"""A list with no new error for a week is dropped: error messages can hold user data."""
TIMEOUT = 1.0
"""Seconds a push or a read is waited for: a 500 is not held up by a Redis that hangs (the
call itself is not cancelled, see `server._waits`)."""


def _encode(error: ServerError) -> str:
    return json.dumps(
        {
            "at": error.at.isoformat(),
            "request_id": error.request_id,
            "method": error.method,
            "path": error.path,
            "exception": error.exception,
            "message": error.message,
        }
    )


def _decode(raw: bytes | str) -> ServerError | None:
    try:
        data: dict[str, Any] = json.loads(raw)
        at = datetime.fromisoformat(data["at"])
        if at.tzinfo is None:
            return None  # could not be ordered among the others
        return ServerError(
            at=at,
            request_id=str(data["request_id"]),
            method=str(data["method"]),
            path=str(data["path"]),
            exception=str(data["exception"]),
            message=str(data["message"]),
        )
    except (ValueError, KeyError, TypeError):
        return None  # written by another version, or not by us: skipped, never a 500


class RedisErrorLog:
    """One capped list, newest first, shared by every process on the same Redis."""

    def __init__(self, redis: Redis[bytes], key: str = KEY, size: int = SHARED_SIZE) -> None:
        self.redis, self.key, self.size = redis, key, size

    async def add(self, error: ServerError) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(self.key, [_encode(error)])
            pipe.ltrim(self.key, 0, self.size - 1)
            pipe.expire(self.key, KEEP_SECONDS)

    async def recent(self) -> list[ServerError]:
        raws = await self.redis.lrange(self.key, 0, self.size - 1)
        return [error for error in map(_decode, raws) if error is not None]


def _shared() -> RedisErrorLog | None:
    redis = get_redis()
    return RedisErrorLog(redis) if redis is not None else None


async def share_server_error(error: ServerError) -> None:
    """Push one 500 for the other workers to show; a failure is logged, never raised."""
    log = _shared()
    if log is None:
        return
    try:
        await wait_at_most(log.add(error), TIMEOUT)
    except Exception as exc:  # the error page must go out whatever Redis does
        logger.warning("could not share a server error through Redis: %s", exc)


async def all_server_errors() -> tuple[list[ServerError], bool]:
    """Newest first: the shared list merged with this worker's ring, and whether the list
    (every worker's) could be read; without REDIS_URL, only this process's ring."""
    local = recent_server_errors()
    log = _shared()
    if log is None:
        return local, True
    try:
        shared = await wait_at_most(log.recent(), TIMEOUT)
    except Exception as exc:  # the console must work exactly when things are broken
        logger.warning("debug console: shared server errors unreachable: %s", exc)
        return local, False
    merged = {(e.at, e.request_id, e.method, e.path): e for e in [*shared, *local]}
    newest = sorted(merged.values(), key=lambda e: e.at, reverse=True)
    return newest[:SHARED_SIZE], True
