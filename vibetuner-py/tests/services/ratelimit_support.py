"""Rate limits that tests can count on: the process's store on a clock that stands still.

Hits a test makes one after another can straddle a window's edge, where the sliding-window
estimate weighs the earlier window by what is left of it: right after a minute's edge, five
earlier hits count as four, and a sixth passes a 5/minute limit. On a clock that stands still
mid-minute, every hit of the test lands in one window."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from vibetuner.services.ratelimit import (
    MongoRateLimitStore,
    RedisRateLimitStore,
    set_rate_limit_store,
)
from vibetuner.services.ratelimit._select import _mongo_collection

if TYPE_CHECKING:
    from coredis import Redis


@contextmanager
def steady_rate_limits(redis: Redis[bytes] | None = None) -> Iterator[None]:
    """Counted in `redis`, else in the app's database (what an app without Redis uses)."""
    now = time.time() // 60 * 60 + 30
    if redis is None:
        set_rate_limit_store(MongoRateLimitStore(resolve=_mongo_collection, clock=lambda: now))
    else:
        set_rate_limit_store(RedisRateLimitStore(redis, clock=lambda: now))
    try:
        yield
    finally:
        set_rate_limit_store(None)
