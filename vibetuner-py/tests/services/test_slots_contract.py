"""One contract, two slot stores: in-process memory, and Redis against a real redis-server."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import RedisServer
from vibetuner.services.slots import MemorySlotStore, RedisSlotStore, SlotStore


class Backend:
    """Builds stores that share one backend, each on its own client like separate instances."""

    def __init__(self, name: str, request: pytest.FixtureRequest) -> None:
        self.name = name
        self._request = request
        self._memory: dict[float, MemorySlotStore] = {}
        self._closers: list[Callable[[], Any]] = []

    def store(self, lease: float = 60.0) -> SlotStore:
        if self.name == "memory":
            return self._memory.setdefault(lease, MemorySlotStore(lease=lease))
        from vibetuner.data._redis_clients import close_client, open_client

        server: RedisServer = self._request.getfixturevalue("redis_server")
        redis = open_client(server.url)
        self._closers.append(functools.partial(close_client, redis))
        return RedisSlotStore(redis, lease=lease)

    async def close(self) -> None:
        for close in self._closers:
            await close()


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    built = Backend(request.param, request)
    yield built
    await built.close()


def _key() -> str:
    return f"streams:{uuid.uuid4().hex}"


def _holder() -> str:
    return uuid.uuid4().hex


async def test_takes_up_to_the_limit_then_refuses(backend: Backend) -> None:
    store, key = backend.store(), _key()
    holders = [_holder() for _ in range(4)]
    assert [await store.acquire(key, h, 3) for h in holders] == [True, True, True, False]
    assert await store.count(key) == 3


async def test_a_release_makes_room_for_one_more(backend: Backend) -> None:
    store, key = backend.store(), _key()
    first, second, third = _holder(), _holder(), _holder()
    assert await store.acquire(key, first, 2) and await store.acquire(key, second, 2)
    assert not await store.acquire(key, third, 2)
    await store.release(key, first)
    assert await store.acquire(key, third, 2)
    assert not await store.acquire(key, first, 2)
    await store.release(key, "nobody")  # an unknown holder is fine
    assert await store.count(key) == 2


async def test_a_holder_takes_one_slot_however_often_it_asks(backend: Backend) -> None:
    store, key, holder = backend.store(), _key(), _holder()
    assert all([await store.acquire(key, holder, 2) for _ in range(5)])
    assert await store.count(key) == 1
    assert await store.acquire(key, _holder(), 2)


async def test_keys_are_independent(backend: Backend) -> None:
    store, first, second = backend.store(), _key(), _key()
    assert await store.acquire(first, _holder(), 1)
    assert not await store.acquire(first, _holder(), 1)
    assert await store.acquire(second, _holder(), 1)


async def test_every_instance_sees_the_same_slots(backend: Backend) -> None:
    one, other, key = backend.store(), backend.store(), _key()
    holder = _holder()
    assert await one.acquire(key, holder, 1)
    assert not await other.acquire(key, _holder(), 1)
    await other.release(key, holder)
    assert await one.count(key) == 0


async def _until(condition: Callable[[], Any], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


async def test_a_holder_that_vanishes_loses_its_slot_when_its_lease_ends(
    backend: Backend,
) -> None:
    """A killed instance never releases: its lease ends, and the slot is free again."""
    store, key = backend.store(lease=0.3), _key()
    assert await store.acquire(key, _holder(), 1)
    started = time.monotonic()
    latecomer = _holder()
    await _until(lambda: store.acquire(key, latecomer, 1))
    assert time.monotonic() - started >= 0.25
    assert await store.count(key) == 1


async def test_renewing_keeps_the_slot_past_its_lease(backend: Backend) -> None:
    store, key, holder = backend.store(lease=0.4), _key(), _holder()
    assert await store.acquire(key, holder, 1)
    deadline = time.monotonic() + 1.2  # three leases
    while time.monotonic() < deadline:
        await store.renew(key, holder)
        assert not await store.acquire(key, _holder(), 1)
        await asyncio.sleep(0.1)
    await store.release(key, holder)
    assert await store.acquire(key, _holder(), 1)


async def test_concurrent_acquires_from_two_instances_take_exactly_the_limit(
    backend: Backend,
) -> None:
    one, other = backend.store(), backend.store()
    for _ in range(5):  # races are rare: give them a few chances to show
        key = _key()
        holders = [_holder() for _ in range(50)]
        stores = [one, other] * 25
        taken = await asyncio.gather(
            *(store.acquire(key, holder, 10) for store, holder in zip(stores, holders, strict=True))
        )
        assert sum(taken) == 10
        assert await other.count(key) == 10
