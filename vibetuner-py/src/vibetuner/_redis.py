"""The process's Redis connection pool, created on first use when REDIS_URL is set."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from vibetuner._resp import LeanRedis

_client: Redis | None = None
_reader: LeanRedis | None = None


def get_redis() -> Redis | None:
    """The shared client, or None when REDIS_URL is not configured."""
    global _client
    if _client is None:
        from vibetuner.config import get_settings

        url = get_settings().redis_url
        if not url:
            return None
        from redis.asyncio import Redis

        from vibetuner.monitoring import instrument_redis

        _client = instrument_redis(Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5))
    return _client


def get_reader() -> LeanRedis | None:
    """The lean pipelined reader for hot-path GETs (sessions), or None: no REDIS_URL, or a
    URL with options only redis-py understands."""
    global _reader
    if _reader is None:
        from vibetuner.config import get_settings

        settings = get_settings()
        if not settings.redis_url:
            return None
        from vibetuner._resp import LeanRedis
        from vibetuner.monitoring import instrument_redis

        reader = LeanRedis.from_url(
            settings.redis_url, connect_timeout=2, timeout=5, cache_size=settings.session_cache_size
        )
        _reader = instrument_redis(reader) if reader is not None else None
    return _reader


async def ping_redis(timeout_s: float = 2.0) -> bool:
    client = get_redis()
    if client is None:
        return False
    try:
        return bool(await asyncio.wait_for(client.ping(), timeout_s))
    except Exception:
        return False


async def close_redis() -> None:
    global _client, _reader
    if _client is not None:
        await _client.aclose()
        _client = None
    if _reader is not None:
        await _reader.close()
        _reader = None
