"""The process's cache backend (Redis when REDIS_URL is set, else memory) and `cache`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from vibetuner.config import get_settings
from vibetuner.data._redis import get_redis
from vibetuner.services._chosen import Chosen
from vibetuner.services.cache._base import CacheBackend
from vibetuner.services.cache._memory import MemoryCache
from vibetuner.services.cache._redis import RedisCache


def get_cache_backend() -> CacheBackend:
    """The process's backend, chosen once so every caller shares the same entries."""
    return _backend.get()


def set_cache_backend(backend: CacheBackend | None) -> None:
    """Replace the backend (tests, or an app with its own store); None re-chooses."""
    _backend.set(backend)


def default_ttl() -> int:
    """CACHE_DEFAULT_TTL, read when needed so tests can change settings."""
    return get_settings().cache_default_ttl


class Cache:
    """JSON values over the process's backend: `await cache.set("k", {...}, ttl=60)`."""

    def __init__(self, backend: CacheBackend | None = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> CacheBackend:
        return self._backend or get_cache_backend()

    async def get(self, key: str, default: Any = None) -> Any:
        """The decoded value, or `default` when the key is missing or expired."""
        raw = await self.backend.get(key)
        return default if raw is None else json.loads(raw)

    async def get_many(self, keys: Sequence[str], default: Any = None) -> list[Any]:
        """The decoded values of several keys (`default` where missing), in one round trip."""
        raws = await self.backend.get_many(keys)
        return [default if raw is None else json.loads(raw) for raw in raws]

    async def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Store a JSON-serialisable value for `ttl` seconds (default CACHE_DEFAULT_TTL)."""
        await self.backend.set(key, encode(value), default_ttl() if ttl is None else ttl)

    async def delete(self, key: str) -> bool:
        """Forget `key`; True when it was there."""
        return await self.backend.delete(key)

    async def clear(self, prefix: str = "") -> int:
        """Forget every key starting with `prefix`."""
        return await self.backend.clear(prefix)


cache = Cache()


def encode(value: Any) -> bytes:
    """Compact, deterministic JSON, so equal values give equal bytes."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _choose() -> CacheBackend:
    redis = get_redis()
    if redis is not None:
        return RedisCache(redis)

    return MemoryCache()


_backend = Chosen(_choose)
