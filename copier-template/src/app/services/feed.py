"""The posts feed's pages, cached: a page costs one cache read instead of a database query.

Every write to a post calls `feed_changed()` (the model's event hooks do), which starts a new
generation: pages stored under the old one are never read again and expire. The generation is
read before the database, so a page queried before a write is stored under the generation
that write retired, and no race brings back what a write changed. The cache is Redis when
REDIS_URL is set, so a write on one worker or instance reaches all of them. Without Redis it
lives in this process: right for `vibetuner run dev` (one process), not for several workers,
so `run prod` without Redis queries the database every time.

Only the query's result is cached, never HTML: each request renders it for its own user
(the author's Edit button), language and CSRF token.
"""

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from vibetuner import cache, get_settings

PREFIX = "posts:feed:"
GENERATION = PREFIX + "generation"
PAGE_TTL = 300
"""Seconds a page is kept: a backstop for writes that skip the hooks (bulk operations)."""
GENERATION_TTL = 86_400

Page = dict[str, Any]


async def feed_changed() -> None:
    """Forget every cached page, in every process that shares the cache."""
    await cache.set(GENERATION, secrets.token_hex(8), ttl=GENERATION_TTL)


async def cached_page(name: str, load: Callable[[], Awaitable[Page]]) -> Page:
    """The page called `name` from the cache, or from `load()` (then stored)."""
    if not _shared():
        return await load()
    generation = await cache.get(GENERATION)
    if generation is None:
        generation = secrets.token_hex(8)
        await cache.set(GENERATION, generation, ttl=GENERATION_TTL)
    key = f"{PREFIX}{generation}:{name}"
    page: Page | None = await cache.get(key)
    if page is None:
        page = await load()
        await cache.set(key, page, ttl=PAGE_TTL)
    return page


def _shared() -> bool:
    """Whether every process that serves the feed sees the same cache."""
    settings = get_settings()
    return bool(settings.redis_url) or not settings.is_prod
