"""Leased slots: at most N holders of a key at once, in memory or shared through Redis.

Live streams hold slots (per client, per worker, for visitors) so no one can open so many
that the server has no room left for pages.
"""

from __future__ import annotations

from vibetuner.services.slots._base import LEASE_SECONDS, SlotStore
from vibetuner.services.slots._memory import MemorySlotStore
from vibetuner.services.slots._redis import RedisSlotStore
from vibetuner.services.slots._select import get_slot_store, set_slot_store

__all__ = [
    "LEASE_SECONDS",
    "MemorySlotStore",
    "RedisSlotStore",
    "SlotStore",
    "get_slot_store",
    "set_slot_store",
]
