"""Counts in Redis: one Lua script reads, decides and counts, so instances never race."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from vibetuner.services.ratelimit._base import Window, allowed, blocked

if TYPE_CHECKING:
    from coredis import Redis
    from coredis.commands import Script

    from vibetuner.services.ratelimit._base import RateLimitResult, RateLimitRule

# KEYS[1]: the key's hash, one field per window.
# ARGV: limit, window size in ms, ms into the window, current field, previous field,
#       the field two windows back (dropped), ms the hash must live.
# Returns {allowed (0/1), previous count, current count (including this hit if allowed)}.
_HIT = """
local limit = tonumber(ARGV[1])
local size = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local previous = tonumber(redis.call('HGET', KEYS[1], ARGV[5]) or '0')
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[4]) or '0')
if math.floor(previous * (size - elapsed) / size) + current >= limit then
  return {0, previous, current}
end
current = redis.call('HINCRBY', KEYS[1], ARGV[4], 1)
redis.call('HDEL', KEYS[1], ARGV[6])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[7]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
end
return {1, previous, current}
"""


class RedisRateLimitStore:
    """Shared by every process that uses the same Redis; keys are `<prefix><key>`."""

    def __init__(
        self,
        redis: Redis[bytes],
        *,
        prefix: str = "vibetuner:ratelimit:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock
        self._script: Script[bytes] = redis.register_script(_HIT)

    async def hit(self, key: str, rule: RateLimitRule) -> RateLimitResult:
        """Count one hit for `key` unless it would exceed `rule`."""
        window = Window.at(self._clock(), rule)
        fields = [f"{rule.window}:{window.index - back}" for back in (0, 1, 2)]
        args: list[int | str] = [rule.limit, window.size_ms, window.elapsed_ms]
        args += [*fields, window.ttl_ms]
        reply: list[int] = await self._script(keys=[self._prefix + key], args=args)
        ok, previous, current = reply
        if ok:
            return allowed(rule, window, int(previous), int(current))
        return blocked(rule, window, int(previous), int(current))

    async def reset(self, key: str) -> None:
        """Forget every hit for `key`."""
        await self._redis.delete([self._prefix + key])
