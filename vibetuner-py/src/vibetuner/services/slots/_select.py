"""The process's slot store: Redis when REDIS_URL is set, else this process's memory."""

from __future__ import annotations

from vibetuner.data._redis import get_redis
from vibetuner.services._chosen import Chosen
from vibetuner.services.slots._base import SlotStore
from vibetuner.services.slots._memory import MemorySlotStore
from vibetuner.services.slots._redis import RedisSlotStore


def get_slot_store() -> SlotStore:
    """The store shared by every instance (Redis), chosen once per process."""
    return _store.get()


def set_slot_store(store: SlotStore | None) -> None:
    """Replace the process's store (tests, or an app with its own backend); None re-chooses."""
    _store.set(store)


def _choose() -> SlotStore:
    redis = get_redis()
    if redis is not None:
        return RedisSlotStore(redis)
    return MemorySlotStore()


_store: Chosen[SlotStore] = Chosen(_choose)
