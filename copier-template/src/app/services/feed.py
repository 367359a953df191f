"""The posts feed's pages, cached: a page costs one cache read instead of a database query.

Every write to a post calls `feed_changed()` (the model's event hooks do), which starts a new
generation. A page is stored with the generation it was read under, and served only while
that generation is current: one read (`get_many`) fetches both. The generation is read before
the database, so a page read before a write carries the generation that write retired, and
no race brings back what a write changed. The cache is Redis when REDIS_URL is set, so a
write on one worker or instance reaches all of them. Without Redis it lives in this process:
right for `vibetuner run dev` (one process), not for several workers, so `run prod` without
Redis queries the database every time.

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
    key = f"{PREFIX}page:{name}"
    generation, stored = await cache.get_many([GENERATION, key])
    if generation is None:
        generation = secrets.token_hex(8)
        await cache.set(GENERATION, generation, ttl=GENERATION_TTL)
    elif stored is not None and stored["generation"] == generation:
        return stored["page"]
    page = await load()
    await cache.set(key, {"generation": generation, "page": page}, ttl=PAGE_TTL)
    return page


def _shared() -> bool:
    """Whether every process that serves the feed sees the same cache."""
    settings = get_settings()
    return bool(settings.redis_url) or not settings.is_prod
