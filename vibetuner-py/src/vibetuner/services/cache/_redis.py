"""A cache in Redis, shared by every process that points at the same server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coredis import Redis

_SCAN_BATCH = 500


class RedisCache:
    """Keys live under `prefix`, so `clear()` never touches sessions or rate limits."""

    def __init__(self, redis: Redis[bytes], *, prefix: str = "vibetuner:cache:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        """The stored value, or None when it is missing or expired."""
        return await self._redis.get(self._prefix + key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each key's value, or None, in order: one MGET."""
        if not keys:
            return []
        return list(await self._redis.mget([self._prefix + key for key in keys]))

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        """Store `value`; Redis expires it after `ttl` seconds."""
        await self._redis.set(self._prefix + key, value, ex=ttl)

    async def incr(self, key: str, ttl: int) -> int:
        """SET NX with the expiry, then INCR (which keeps it), in one transaction."""
        from coredis import PureToken  # coredis loads only in apps that use Redis

        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._prefix + key, 0, ex=ttl, condition=PureToken.NX)
            count = pipe.incr(self._prefix + key)
        return int(await count)

    async def delete(self, key: str) -> bool:
        """Forget `key`; True when it was there."""
        return bool(await self._redis.delete([self._prefix + key]))

    async def clear(self, prefix: str = "") -> int:
        """Forget every key under `prefix`, scanning in batches (never a blocking KEYS)."""
        pattern = _escape_glob(self._prefix + prefix) + "*"
        deleted = 0
        batch: list[bytes] = []
        async for key in self._redis.scan_iter(match=pattern, count=_SCAN_BATCH):
            batch.append(key)
            if len(batch) >= _SCAN_BATCH:
                deleted += await self._redis.unlink(batch)
                batch = []
        if batch:
            deleted += await self._redis.unlink(batch)
        return deleted


def _escape_glob(text: str) -> str:
    """Make `text` match literally in a SCAN pattern (paths may contain `?` or `[`)."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
