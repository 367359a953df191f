"""Slots in this process's memory: one worker's count, or every count without Redis."""

from __future__ import annotations

import time
from collections.abc import Callable

from vibetuner.services.slots._base import LEASE_SECONDS


class MemorySlotStore:
    """A dict of holders per key; atomic because no call awaits between reading and writing."""

    def __init__(
        self, *, lease: float = LEASE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lease = lease
        self._clock = clock
        self._held: dict[str, dict[str, float]] = {}

    async def acquire(self, key: str, holder: str, limit: int) -> bool:
        """Take a slot of `key` for `holder` unless `limit` live holders have one."""
        holders = self._live(key)
        if holder not in holders and len(holders) >= limit:
            return False
        holders[holder] = self._clock() + self.lease
        self._held[key] = holders
        return True

    async def renew(self, key: str, holder: str) -> None:
        """Start the holder's lease again."""
        self._held.setdefault(key, {})[holder] = self._clock() + self.lease

    async def release(self, key: str, holder: str) -> None:
        """Give the holder's slot back."""
        holders = self._held.get(key)
        if holders is None:
            return
        holders.pop(holder, None)
        if not holders:
            del self._held[key]

    async def count(self, key: str) -> int:
        """Live holders of `key` now."""
        return len(self._live(key))

    def _live(self, key: str) -> dict[str, float]:
        """The holders of `key` whose lease has not run out (the others are dropped)."""
        holders = self._held.get(key)
        if not holders:
            return {}
        now = self._clock()
        for holder in [h for h, expires in holders.items() if expires <= now]:
            del holders[holder]
        return holders
