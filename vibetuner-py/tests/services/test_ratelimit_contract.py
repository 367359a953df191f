"""One contract, three rate-limit stores: memory, and Redis and MongoDB against real servers."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import RedisServer
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.services.ratelimit import (
    MemoryRateLimitStore,
    MongoRateLimitStore,
    RateLimitRule,
    RateLimitStore,
    RedisRateLimitStore,
)


class Clock:
    """A settable clock on an hour boundary ahead of now, so server-side TTLs stay valid."""

    def __init__(self) -> None:
        self.now = float((int(time.time()) // 3600 + 1) * 3600)

    def __call__(self) -> float:
        return self.now


class Backend:
    """Builds stores that share one backend, each on its own client like separate instances."""

    def __init__(self, name: str, request: pytest.FixtureRequest) -> None:
        self.name = name
        self._request = request
        self._memory: MemoryRateLimitStore | None = None
        self._closers: list[Callable[[], Any]] = []
        self._database = f"ratelimit_{uuid.uuid4().hex[:8]}"

    def store(self, clock: Callable[[], float] = time.time) -> RateLimitStore:
        if self.name == "memory":
            if self._memory is None:
                self._memory = MemoryRateLimitStore(clock=clock)
            return self._memory
        if self.name == "redis":
            from vibetuner.data._redis_clients import close_client, open_client

            server: RedisServer = self._request.getfixturevalue("redis_server")
            redis = open_client(server.url)
            self._closers.append(functools.partial(close_client, redis))
            return RedisRateLimitStore(redis, clock=clock)
        from pymongo import AsyncMongoClient

        mongo: EmbeddedMongo = self._request.getfixturevalue("vibetuner_mongo")
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url)
        self._closers.append(client.close)
        return MongoRateLimitStore(client[self._database]["rate_limits"], clock=clock)

    async def close(self) -> None:
        for close in self._closers:
            await close()


@pytest.fixture(params=["memory", "redis", "mongo"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    built = Backend(request.param, request)
    yield built
    await built.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _key() -> str:
    return f"login:{uuid.uuid4().hex}"


async def test_allows_up_to_the_limit_then_blocks(backend: Backend, clock: Clock) -> None:
    store, key, rule = backend.store(clock), _key(), RateLimitRule.parse("3/minute")
    clock.now += 1
    results = [await store.hit(key, rule) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0]
    assert {r.limit for r in results} == {3}
    # 59 s to the next window, which still counts all 3 hits at its first millisecond.
    assert results[-1].retry_after == 60
    assert [r.retry_after for r in results[:3]] == [0, 0, 0]


async def test_retry_after_is_exact_to_the_second(backend: Backend, clock: Clock) -> None:
    store, key, rule = backend.store(clock), _key(), RateLimitRule.parse("4/10seconds")
    for _ in range(4):
        assert (await store.hit(key, rule)).allowed
    clock.now += 13  # 3 s into the next window: 4 * 0.7 = 2 earlier hits still count
    assert [(await store.hit(key, rule)).allowed for _ in range(3)] == [True, True, False]
    refused = await store.hit(key, rule)
    assert 1 <= refused.retry_after <= 10
    clock.now += refused.retry_after - 1
    assert not (await store.hit(key, rule)).allowed
    clock.now += 1
    assert (await store.hit(key, rule)).allowed


async def test_blocked_hits_are_not_counted(backend: Backend, clock: Clock) -> None:
    store, key, rule = backend.store(clock), _key(), RateLimitRule.parse("2/minute")
    for _ in range(10):
        await store.hit(key, rule)
    clock.now += 120
    result = await store.hit(key, rule)
    assert result.allowed and result.remaining == 1


async def test_keys_are_independent(backend: Backend, clock: Clock) -> None:
    store, rule = backend.store(clock), RateLimitRule.parse("1/hour")
    first, second = _key(), _key()
    assert (await store.hit(first, rule)).allowed
    assert not (await store.hit(first, rule)).allowed
    assert (await store.hit(second, rule)).allowed


async def test_rules_of_different_windows_count_apart(backend: Backend, clock: Clock) -> None:
    store, key = backend.store(clock), _key()
    assert (await store.hit(key, RateLimitRule.parse("1/minute"))).allowed
    assert (await store.hit(key, RateLimitRule.parse("1/hour"))).allowed
    assert not (await store.hit(key, RateLimitRule.parse("1/minute"))).allowed


async def test_a_full_window_later_the_whole_limit_is_back(backend: Backend, clock: Clock) -> None:
    store, key, rule = backend.store(clock), _key(), RateLimitRule.parse("3/15minutes")
    for _ in range(3):
        await store.hit(key, rule)
    clock.now += 2 * 15 * 60
    assert (await store.hit(key, rule)).remaining == 2


async def test_waiting_retry_after_in_real_time_lets_a_hit_through(backend: Backend) -> None:
    store, key, rule = backend.store(), _key(), RateLimitRule.parse("3/2seconds")
    for _ in range(10):  # more than 3 hits when they straddle a window boundary
        refused = await store.hit(key, rule)
        if not refused.allowed:
            break
    assert not refused.allowed and 1 <= refused.retry_after <= 2
    await asyncio.sleep(refused.retry_after + 0.05)
    assert (await store.hit(key, rule)).allowed


async def test_reset_forgets_the_key_for_every_instance(backend: Backend, clock: Clock) -> None:
    one, other = backend.store(clock), backend.store(clock)
    key, rule = _key(), RateLimitRule.parse("2/hour")
    for _ in range(3):
        await one.hit(key, rule)
    assert not (await other.hit(key, rule)).allowed
    await other.reset(key)
    assert (await one.hit(key, rule)).remaining == 1
    await one.reset(_key())  # an unknown key is fine


async def test_concurrent_hits_from_two_instances_allow_exactly_the_limit(
    backend: Backend, clock: Clock
) -> None:
    one, other = backend.store(clock), backend.store(clock)
    rule = RateLimitRule.parse("10/hour")
    for _ in range(5):  # races are rare: give them a few chances to show
        key = _key()
        results = await asyncio.gather(*(store.hit(key, rule) for store in [one, other] * 25))
        assert sum(r.allowed for r in results) == 10
        assert all(r.retry_after >= 1 for r in results if not r.allowed)
        assert sorted(r.remaining for r in results if r.allowed) == list(range(10))
        await one.reset(key)
        assert (await other.hit(key, rule)).remaining == 9
