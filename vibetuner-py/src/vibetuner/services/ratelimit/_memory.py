"""Counts in this process's memory: for unit tests and single-process development."""

from __future__ import annotations

import time
from collections.abc import Callable

from vibetuner.services.ratelimit._base import (
    RateLimitResult,
    RateLimitRule,
    Window,
    allowed,
    blocked,
)

SWEEP_EVERY = 60.0
"""Seconds between sweeps that drop keys nobody hit lately, so memory stays bounded."""


class MemoryRateLimitStore:
    """A dict of counters; atomic because a hit never awaits between reading and counting."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[str, dict[tuple[int, int], int]] = {}
        self._expires: dict[str, float] = {}
        self._last_sweep = clock()

    async def hit(self, key: str, rule: RateLimitRule) -> RateLimitResult:
        """Count one hit for `key` unless it would exceed `rule`."""
        now = self._clock()
        self._sweep(now)
        window = Window.at(now, rule)
        counts = self._counts.setdefault(key, {})
        for slot in [s for s in counts if s[0] == rule.window and s[1] < window.index - 1]:
            del counts[slot]
        previous = counts.get((rule.window, window.index - 1), 0)
        current = counts.get((rule.window, window.index), 0)
        if window.weighted(previous) + current >= rule.limit:
            return blocked(rule, window, previous, current)
        counts[(rule.window, window.index)] = current + 1
        expires = now + window.ttl_ms / 1000
        self._expires[key] = max(self._expires.get(key, expires), expires)
        return allowed(rule, window, previous, current + 1)

    async def reset(self, key: str) -> None:
        """Forget every hit for `key`."""
        self._counts.pop(key, None)
        self._expires.pop(key, None)

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < SWEEP_EVERY:
            return
        self._last_sweep = now
        for key in [k for k, expires in self._expires.items() if expires <= now]:
            self._counts.pop(key, None)
            del self._expires[key]
