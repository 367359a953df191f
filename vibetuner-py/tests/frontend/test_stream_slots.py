"""A live stream's shared slots: their lease renewals end with the stream without being
cancelled mid-call (coredis keeps a pool place for good when a call is cancelled while it
opens a connection), and never take a slot back after the release."""

from __future__ import annotations

import asyncio

import pytest

from vibetuner.frontend._stream_slots import ANONYMOUS_KEY, client_key, stream_slots
from vibetuner.services.slots import MemorySlotStore, set_slot_store


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
    scope = {"type": "http", "client": ("198.51.100.9", 50000), "headers": []}
    key, _signed_in = client_key(scope)
    try:
        async with stream_slots(scope):
            await asyncio.wait_for(store.renewing.wait(), 10)  # a renewal waits now
            assert await store.count(key) == 1
            asyncio.get_running_loop().call_later(0.05, store.through.set)
        # The stream's end waited for the release, which waited for that renewal.
        # A visitor's stream holds two shared slots: its network's and the visitors' one.
        assert (store.cancelled, store.renewed) == (0, 2)
        for held in (key, ANONYMOUS_KEY):
            assert await store.count(held) == 0, "a renewal took a slot back after the release"
    finally:
        set_slot_store(None)
