"""An in-process cache for development and tests: nothing is shared between processes."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence


class MemoryCache:
    """A bounded LRU dict with expiry; the oldest entries go first once `max_entries` is hit."""

    def __init__(
        self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._items: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    async def get(self, key: str) -> bytes | None:
        """The stored value, or None when it is missing or expired."""
        item = self._items.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= self._clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each key's value, or None, in order."""
        return [await self.get(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        """Store `value` for `ttl` seconds (None: until deleted or evicted)."""
        expires = None if ttl is None else self._clock() + ttl
        self._items[key] = (bytes(value), expires)
        self._items.move_to_end(key)
        while len(self._items) > self._max_entries:
            self._items.popitem(last=False)

    async def delete(self, key: str) -> bool:
        """Forget `key`; True when it was there."""
        return self._items.pop(key, None) is not None

    async def clear(self, prefix: str = "") -> int:
        """Forget every key starting with `prefix`."""
        doomed = [key for key in self._items if key.startswith(prefix)]
        for key in doomed:
            del self._items[key]
        return len(doomed)
