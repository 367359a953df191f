"""The `cache` helpers and `@cached`: JSON values, keys, invalidation, backend choice."""

from collections.abc import Iterator

import pytest

from tests.conftest import RedisServer
from vibetuner.services.cache import (
    Cache,
    MemoryCache,
    RedisCache,
    cache,
    cached,
    get_cache_backend,
    set_cache_backend,
)


@pytest.fixture
def memory() -> Iterator[MemoryCache]:
    backend = MemoryCache()
    set_cache_backend(backend)
    yield backend
    set_cache_backend(None)


async def test_cache_stores_json_values(memory: MemoryCache) -> None:
    await cache.set("stats", {"posts": 3, "tags": ["a", "b"]}, ttl=60)
    assert await cache.get("stats") == {"posts": 3, "tags": ["a", "b"]}
    assert await memory.get("stats") == b'{"posts":3,"tags":["a","b"]}'
    assert await cache.get("missing", default=0) == 0
    assert await cache.delete("stats") is True
    assert await cache.get("stats") is None


async def test_get_many_decodes_each_value(memory: MemoryCache) -> None:
    await cache.set("one", {"n": 1}, ttl=60)
    await cache.set("two", [2], ttl=60)
    assert await cache.get_many(["two", "none", "one"]) == [[2], None, {"n": 1}]
    assert await cache.get_many(["none"], default=0) == [0]


async def test_cache_default_ttl_comes_from_settings(
    settings_env: pytest.MonkeyPatch, memory: MemoryCache
) -> None:
    settings_env.setenv("CACHE_DEFAULT_TTL", "1")
    from vibetuner.config import reset_settings

    reset_settings()
    clock = [100.0]
    backend = MemoryCache(clock=lambda: clock[0])
    await Cache(backend).set("k", 1)
    clock[0] += 1.5
    assert await backend.get("k") is None


async def test_cached_calls_once_per_key(memory: MemoryCache) -> None:
    calls: list[int] = []

    @cached(ttl=60, key="user:{user_id}")
    async def profile(user_id: int, verbose: bool = False) -> dict[str, int]:
        calls.append(user_id)
        return {"id": user_id}

    assert await profile(1) == {"id": 1}
    assert await profile(1) == {"id": 1}
    assert await profile(2) == {"id": 2}
    assert calls == [1, 2]
    assert await cache.get("user:1") == {"id": 1}
    assert await profile.invalidate(1) is True
    assert await profile(user_id=1) == {"id": 1}
    assert calls == [1, 2, 1]
    assert profile.__name__ == "profile"


async def test_cached_with_a_callable_key_and_none_results(memory: MemoryCache) -> None:
    calls: list[str] = []

    @cached(ttl=60, key=lambda slug: f"post:{slug.lower()}")
    async def find(slug: str) -> str | None:
        calls.append(slug)
        return None

    assert await find("Hello") is None
    assert await find("hello") is None
    assert calls == ["Hello"]
    assert await find.invalidate("HELLO") is True


async def test_cached_default_key_uses_name_and_arguments(memory: MemoryCache) -> None:
    @cached(ttl=60)
    async def add(a: int, b: int = 1) -> int:
        return a + b

    assert await add(1) == 2
    assert add.key_for(1) == add.key_for(1, b=1) != add.key_for(1, 2)
    assert "add" in add.key_for(1)
    assert await add.invalidate(1, b=1) is True


def test_cached_refuses_sync_functions() -> None:
    with pytest.raises(TypeError, match="async"):

        def sync() -> int:
            return 1

        cached()(sync)  # type: ignore[arg-type]


async def test_backend_is_memory_without_redis(settings_env: pytest.MonkeyPatch) -> None:
    set_cache_backend(None)
    try:
        assert isinstance(get_cache_backend(), MemoryCache)
    finally:
        set_cache_backend(None)


async def test_backend_is_redis_with_redis_url(
    settings_env: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    from vibetuner.data._redis import close_redis

    settings_env.setenv("REDIS_URL", redis_server.url)
    set_cache_backend(None)
    try:
        assert isinstance(get_cache_backend(), RedisCache)
        await cache.set("shared", [1, 2], ttl=60)
        assert await cache.get("shared") == [1, 2]
    finally:
        set_cache_backend(None)
        await close_redis()


async def test_the_memory_cache_bounds_the_bytes_it_holds() -> None:
    """Pages of up to 1 MiB under endless query strings: the oldest go once `max_bytes` is
    passed, whatever the number of entries."""
    backend = MemoryCache(max_entries=1000, max_bytes=1000)
    for n in range(10):
        await backend.set(f"k{n}", bytes(300))
    kept = [n for n in range(10) if await backend.get(f"k{n}") is not None]
    assert kept == [7, 8, 9]
    await backend.set("k9", bytes(900))  # a rewrite counts once
    assert [await backend.get(k) is not None for k in ("k7", "k8", "k9")] == [False, False, True]
    assert await backend.clear() == 1
    await backend.set("big", bytes(1001))  # larger than the whole budget: not kept
    assert await backend.get("big") is None
