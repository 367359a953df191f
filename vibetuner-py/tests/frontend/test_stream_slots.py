"""A live stream's slots: their lease renewals end with the stream without being cancelled
mid-call (coredis keeps a pool place for good when a call is cancelled while it opens a
connection) and never take a slot back after the release; this worker's slot is renewed too,
and given back at once, whatever Redis does."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from vibetuner.frontend import _stream_slots
from vibetuner.frontend._stream_slots import ANONYMOUS_KEY, WORKER_KEY, client_key, stream_slots
from vibetuner.services.slots import MemorySlotStore, set_slot_store

SCOPE = {"type": "http", "client": ("198.51.100.9", 50000), "headers": []}


async def _until(condition: object, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + 10  # a liveness bound
    while not await condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.005)


class GatedStore(MemorySlotStore):
    """Renewals wait for the test to let them through, and count how each one ended."""

    def __init__(self) -> None:
        super().__init__(lease=0.03)  # a renewal every 10 ms
        self.renewing, self.through = asyncio.Event(), asyncio.Event()
        self.renewed = self.cancelled = 0

    async def renew(self, key: str, holder: str) -> None:
        self.renewing.set()
        try:
            await self.through.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        await super().renew(key, holder)
        self.renewed += 1


async def test_a_renewal_in_flight_when_the_stream_ends_finishes_before_the_release(
    settings_env: pytest.MonkeyPatch,
) -> None:
    store = GatedStore()
    set_slot_store(store)
    scope = dict(SCOPE)
    key, _signed_in = client_key(scope)
    try:
        async with stream_slots(scope):
            await asyncio.wait_for(store.renewing.wait(), 10)  # a renewal waits now
            assert await store.count(key) == 1
            asyncio.get_running_loop().call_later(0.05, store.through.set)
        # The stream's end waited for the release, which waited for that renewal.
        # A visitor's stream holds two shared slots (its network's and the visitors' one):
        # the renewal in flight ended by itself, and the other was not started after the end.
        assert (store.cancelled, store.renewed) == (0, 1)
        for held in (key, ANONYMOUS_KEY):
            assert await store.count(held) == 0, "a renewal took a slot back after the release"
    finally:
        set_slot_store(None)


async def test_this_workers_slot_is_given_back_while_a_shared_renewal_waits(
    settings_env: pytest.MonkeyPatch,
) -> None:
    """A Redis that is slow must not keep the worker's own count up: new streams would be
    refused on an idle worker."""
    store = GatedStore()
    set_slot_store(store)
    try:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(stream_slots(dict(SCOPE)))
            await asyncio.wait_for(store.renewing.wait(), 10)
            assert await _stream_slots._worker.count(WORKER_KEY) == 1
            ending = asyncio.ensure_future(stack.aclose())

            async def worker_free() -> bool:
                return await _stream_slots._worker.count(WORKER_KEY) == 0

            await _until(worker_free, "the worker's slot waited for the shared renewal")
            store.through.set()
            await ending
    finally:
        set_slot_store(None)


class CountingStore(MemorySlotStore):
    def __init__(self, lease: float) -> None:
        super().__init__(lease=lease)
        self.renewals = 0

    async def renew(self, key: str, holder: str) -> None:
        await super().renew(key, holder)
        self.renewals += 1


async def test_a_stream_longer_than_the_lease_still_counts_for_its_worker(
    settings_env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker cap counted only the streams of the last lease (60 s): its slot was never
    renewed."""
    monkeypatch.setattr(_stream_slots, "_worker", MemorySlotStore(lease=0.03))
    shared = CountingStore(lease=0.03)
    set_slot_store(shared)
    try:
        async with stream_slots(dict(SCOPE)):

            async def many_leases_later() -> bool:
                return shared.renewals >= 20  # two slots every 10 ms: about 3 leases

            await _until(many_leases_later, "no renewals")
            assert await _stream_slots._worker.count(WORKER_KEY) == 1
        assert await _stream_slots._worker.count(WORKER_KEY) == 0
    finally:
        set_slot_store(None)
