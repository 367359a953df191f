"""The slot store interface: at most `limit` holders of a key at once, each on a lease.

A holder takes a slot with `acquire`, keeps it with `renew` (before its lease runs out)
and gives it back with `release`. A holder that vanishes without releasing (a killed
instance) loses its slot when its lease ends, so crashed instances never leak capacity.
"""

from __future__ import annotations

from typing import Protocol

LEASE_SECONDS = 60.0
"""How long a slot is held without renewal; holders renew every third of it."""


class SlotStore(Protocol):
    """Counts holders per key; `acquire` must decide atomically across processes."""

    lease: float

    async def acquire(self, key: str, holder: str, limit: int) -> bool:
        """Take a slot of `key` for `holder` unless `limit` live holders have one already;
        a holder that has a slot keeps it (and its lease starts again)."""
        ...

    async def renew(self, key: str, holder: str) -> None:
        """Start the holder's lease again (taking the slot back if it had run out)."""
        ...

    async def release(self, key: str, holder: str) -> None:
        """Give the holder's slot back; an unknown holder is fine."""
        ...

    async def count(self, key: str) -> int:
        """Live holders of `key` now."""
        ...
