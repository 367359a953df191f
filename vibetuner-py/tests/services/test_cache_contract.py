"""One contract, two cache backends: in-process memory, and Redis against a real server."""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.conftest import RedisServer
from vibetuner.services.cache import CacheBackend, MemoryCache, RedisCache


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[CacheBackend]:
    if request.param == "memory":
        yield MemoryCache()
        return
    from vibetuner.data._redis_clients import close_client, open_client

    server: RedisServer = request.getfixturevalue("redis_server")
    client = open_client(server.url)
    yield RedisCache(client, prefix="test:")
    await close_client(client)


async def test_set_then_get_round_trips_bytes(backend: CacheBackend) -> None:
    await backend.set("k", b"\x00value\xff", ttl=60)
    assert await backend.get("k") == b"\x00value\xff"
    assert await backend.get("missing") is None


async def test_get_many_reads_several_in_order(backend: CacheBackend) -> None:
    await backend.set("a", b"1", ttl=60)
    await backend.set("short", b"2", ttl=1)
    await backend.set("c", b"3", ttl=60)
    assert await backend.get_many(["c", "missing", "a", "short"]) == [b"3", None, b"1", b"2"]
    assert await backend.get_many([]) == []
    await asyncio.sleep(1.1)
    assert await backend.get_many(["short", "a"]) == [None, b"1"]


async def test_set_overwrites(backend: CacheBackend) -> None:
    await backend.set("k", b"one", ttl=60)
    await backend.set("k", b"two", ttl=60)
    assert await backend.get("k") == b"two"


async def test_entries_expire_after_ttl(backend: CacheBackend) -> None:
    await backend.set("short", b"x", ttl=1)
    await backend.set("forever", b"y")
    assert await backend.get("short") == b"x"
    deadline = time.monotonic() + 10
    while await backend.get("short") is not None:
        assert time.monotonic() < deadline, "the entry outlived its ttl"
        await asyncio.sleep(0.05)
    assert await backend.get("forever") == b"y"


async def test_incr_counts_in_a_window_that_starts_with_the_first(backend: CacheBackend) -> None:
    assert [await backend.incr("hits", ttl=1) for _ in range(3)] == [1, 2, 3]
    assert await backend.incr("other", ttl=60) == 1
    deadline = time.monotonic() + 10
    while await backend.get("hits") is not None:  # the later counts kept the first's expiry
        assert time.monotonic() < deadline, "the count outlived its window"
        await asyncio.sleep(0.05)
    assert await backend.incr("hits", ttl=60) == 1
    assert await backend.incr("other", ttl=60) == 2


async def test_incr_is_atomic(backend: CacheBackend) -> None:
    counts = await asyncio.gather(*(backend.incr("race", ttl=60) for _ in range(50)))
    assert sorted(counts) == list(range(1, 51))


async def test_delete_reports_whether_something_went(backend: CacheBackend) -> None:
    await backend.set("k", b"v", ttl=60)
    assert await backend.delete("k") is True
    assert await backend.delete("k") is False
    assert await backend.get("k") is None


async def test_clear_forgets_only_the_prefix(backend: CacheBackend) -> None:
    for i in range(5):
        await backend.set(f"user:{i}", b"u", ttl=60)
    await backend.set("post:1", b"p", ttl=60)
    assert await backend.clear("user:") == 5
    assert await backend.get("user:3") is None
    assert await backend.get("post:1") == b"p"


async def test_clear_treats_glob_characters_literally(backend: CacheBackend) -> None:
    await backend.set("page:/a?b[1]*", b"1", ttl=60)
    await backend.set("page:/aXb1", b"2", ttl=60)
    assert await backend.clear("page:/a?b[") == 1
    assert await backend.get("page:/aXb1") == b"2"


async def test_clear_handles_more_than_one_scan_batch(backend: CacheBackend) -> None:
    for i in range(1200):
        await backend.set(f"bulk:{i}", b"x", ttl=60)
    assert await backend.clear("bulk:") == 1200
    assert await backend.get("bulk:7") is None


async def test_redis_keys_live_under_the_prefix(redis_server: RedisServer) -> None:
    from vibetuner.data._redis_clients import close_client, open_client

    client = open_client(redis_server.url)
    try:
        cache = RedisCache(client, prefix="app:cache:")
        await cache.set("k", b"v", ttl=30)
        assert await client.get("app:cache:k") == b"v"
        assert 0 < await client.ttl("app:cache:k") <= 30
        await client.set("other", b"kept")
        await cache.clear()
        assert await client.get("other") == b"kept"
    finally:
        await close_client(client)


async def test_memory_evicts_least_recently_used() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    await cache.get("a")
    await cache.set("c", b"3")
    assert await cache.get("b") is None
    assert await cache.get("a") == b"1"
