"""Rate limits behind one small async interface, with memory, Redis and MongoDB stores.

In a route, `await enforce(f"login:net:{client_network(host)}", "5/minute")` counts a hit
and raises `RateLimitExceeded` (a 429 with `Retry-After`) when the rule refuses it. Keying
on `client_network` holds an IPv6 client to its /64, so changing address does not dodge it.
"""

from __future__ import annotations

from vibetuner.services.ratelimit._base import (
    RateLimitResult,
    RateLimitRule,
    RateLimitStore,
)
from vibetuner.services.ratelimit._memory import MemoryRateLimitStore
from vibetuner.services.ratelimit._mongo import MongoRateLimitStore
from vibetuner.services.ratelimit._redis import RedisRateLimitStore
from vibetuner.services.ratelimit._select import (
    RateLimitExceeded,
    client_network,
    enforce,
    get_rate_limit_store,
    reset_rate_limit_store,
    set_rate_limit_store,
)

__all__ = [
    "MemoryRateLimitStore",
    "MongoRateLimitStore",
    "RateLimitExceeded",
    "RateLimitResult",
    "RateLimitRule",
    "RateLimitStore",
    "RedisRateLimitStore",
    "client_network",
    "enforce",
    "get_rate_limit_store",
    "reset_rate_limit_store",
    "set_rate_limit_store",
]
