"""The cache backend interface every store shares: bytes in, bytes out, with expiry.

Backends only move bytes; encoding (JSON for `cache`, a small envelope for cached pages)
belongs to the caller, so one store can serve every kind of cached value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class CacheBackend(Protocol):
    """A key-value store with per-key expiry; Redis shares it across processes."""

    async def get(self, key: str) -> bytes | None:
        """The stored value, or None when it is missing or expired."""
        ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each key's value (None where missing or expired), in order, in one round trip."""
        ...

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        """Store `value`; it expires after `ttl` seconds (None keeps it until deleted)."""
        ...

    async def incr(self, key: str, ttl: int) -> int:
        """Add one to the count under `key` and return it; a new count starts at 1 and is
        forgotten `ttl` seconds after it started (a fixed window, in one atomic step)."""
        ...

    async def delete(self, key: str) -> bool:
        """Forget `key`; True when something was deleted."""
        ...

    async def clear(self, prefix: str = "") -> int:
        """Forget every key starting with `prefix`; return how many were deleted."""
        ...
