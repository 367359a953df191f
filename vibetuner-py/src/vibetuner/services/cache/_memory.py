"""An in-process cache for development and tests: nothing is shared between processes."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

MAX_BYTES = 64 * 1024 * 1024
"""What the values may hold together: pages of up to 1 MiB under random query strings would
otherwise reach `max_entries` of them."""


class MemoryCache:
    """A bounded LRU dict with expiry; the oldest entries go first once `max_entries` or
    `max_bytes` (of values) is passed."""

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._items: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._clock = clock

    def _forget(self, key: str) -> bool:
        item = self._items.pop(key, None)
        if item is None:
            return False
        self._bytes -= len(item[0])
        return True

    async def get(self, key: str) -> bytes | None:
        """The stored value, or None when it is missing or expired."""
        item = self._live(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each key's value, or None, in order."""
        return [await self.get(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        """Store `value` for `ttl` seconds (None: until deleted or evicted)."""
        self._store(key, bytes(value), None if ttl is None else self._clock() + ttl)

    async def incr(self, key: str, ttl: int) -> int:
        """Add one to the count under `key`, which expires `ttl` seconds after it started."""
        item = self._live(key)
        count, expires = (1, self._clock() + ttl) if item is None else (int(item[0]) + 1, item[1])
        self._store(key, str(count).encode(), expires)
        return count

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        """The entry under `key`, unless it expired (then it is forgotten)."""
        item = self._items.get(key)
        if item is not None and item[1] is not None and item[1] <= self._clock():
            self._forget(key)
            return None
        return item

    def _store(self, key: str, value: bytes, expires: float | None) -> None:
        self._forget(key)
        self._items[key] = (value, expires)
        self._bytes += len(value)
        while len(self._items) > self._max_entries or self._bytes > self._max_bytes:
            self._forget(next(iter(self._items)))

    async def delete(self, key: str) -> bool:
        """Forget `key`; True when it was there."""
        return self._forget(key)

    async def clear(self, prefix: str = "") -> int:
        """Forget every key starting with `prefix`."""
        doomed = [key for key in self._items if key.startswith(prefix)]
        for key in doomed:
            self._forget(key)
        return len(doomed)
