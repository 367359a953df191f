"""Slots in Redis: a sorted set per key, each holder scored by the end of its lease.

One Lua script drops ended leases, counts and adds, so two instances can never both take
the last slot. Times come from the Redis server's clock, so instances need not agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vibetuner.services.slots._base import LEASE_SECONDS

if TYPE_CHECKING:
    from coredis import Redis
    from coredis.commands import Script

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
"""

# KEYS[1]: the key's sorted set. ARGV: holder, limit, lease in ms. Returns 1 when taken.
_ACQUIRE = (
    _NOW
    + """
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
)

# KEYS[1]: the key's sorted set. ARGV: holder, lease in ms.
_RENEW = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
)

_COUNT = (
    _NOW
    + """
return redis.call('ZCARD', KEYS[1])
"""
)


class RedisSlotStore:
    """Shared by every process that uses the same Redis; keys are `<prefix><key>`."""

    def __init__(
        self,
        redis: Redis[bytes],
        *,
        lease: float = LEASE_SECONDS,
        prefix: str = "vibetuner:slots:",
    ) -> None:
        self.lease = lease
        self._redis = redis
        self._prefix = prefix
        self._lease_ms = max(1, round(lease * 1000))
        self._acquire: Script[bytes] = redis.register_script(_ACQUIRE)
        self._renew: Script[bytes] = redis.register_script(_RENEW)
        self._count: Script[bytes] = redis.register_script(_COUNT)

    async def acquire(self, key: str, holder: str, limit: int) -> bool:
        """Take a slot of `key` for `holder` unless `limit` live holders have one."""
        args: list[int | str] = [holder, limit, self._lease_ms]
        return bool(await self._acquire(keys=[self._prefix + key], args=args))

    async def renew(self, key: str, holder: str) -> None:
        """Start the holder's lease again."""
        await self._renew(keys=[self._prefix + key], args=[holder, self._lease_ms])

    async def release(self, key: str, holder: str) -> None:
        """Give the holder's slot back."""
        await self._redis.zrem(self._prefix + key, [holder])

    async def count(self, key: str) -> int:
        """Live holders of `key` now."""
        return int(await self._count(keys=[self._prefix + key], args=[]))
