"""Caching behind one small async interface, with Redis and in-process memory backends.

`await cache.set("stats", data, ttl=60)` and `await cache.get("stats")` store JSON values
(`await cache.get_many(["a", "b"])` reads several in one round trip);
`@cached(ttl=60, key="user:{user_id}")` memoises an async function and
`await fn.invalidate(user_id)` forgets one entry. Redis is used when REDIS_URL is set.
"""

from __future__ import annotations

from vibetuner.services.cache._base import CacheBackend
from vibetuner.services.cache._decorator import CachedFunction, cached
from vibetuner.services.cache._memory import MemoryCache
from vibetuner.services.cache._redis import RedisCache
from vibetuner.services.cache._select import (
    Cache,
    cache,
    get_cache_backend,
    set_cache_backend,
)

__all__ = [
    "Cache",
    "CacheBackend",
    "CachedFunction",
    "MemoryCache",
    "RedisCache",
    "cache",
    "cached",
    "get_cache_backend",
    "set_cache_backend",
]
