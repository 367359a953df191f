"""The rate-limit rule, the result of a hit, and the store interface every backend shares.

Every backend counts with the same sliding-window counter: hits are counted per fixed
window aligned to the epoch, and a hit is allowed when the current window's count plus the
previous window's count, weighted by how much of it still overlaps the sliding window, is
below the limit. Rejected hits are not counted, so a client that keeps hammering is let in
again as soon as its earlier hits age out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from vibetuner.config import rate_limit_parts


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    """`limit` hits per `window` seconds, by the sliding-window estimate above: over any run
    of windows the rate stays at the limit, but hits bunched at one window's end and through
    the next can let up to twice the limit through within one window's span."""

    limit: int
    window: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window < 1:
            raise ValueError(f"A rate limit needs limit >= 1 and window >= 1 s, got {self!r}")

    @classmethod
    def parse(cls, text: str) -> RateLimitRule:
        """Read the form used in settings, so limits are configurable as plain strings."""
        try:
            limit, window = rate_limit_parts(text)
        except ValueError as exc:
            raise ValueError(f"Rate limit {text!r} is not valid: it {exc}.") from None
        return cls(limit=limit, window=window)

    @classmethod
    def coerce(cls, rule: RateLimitRule | str) -> RateLimitRule:
        """Let callers pass either a rule or its string form."""
        return rule if isinstance(rule, RateLimitRule) else cls.parse(rule)

    def __str__(self) -> str:
        return f"{self.limit}/{self.window}seconds"


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """What one hit decided; `retry_after` is whole seconds, at least 1 when blocked."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: int


class RateLimitStore(Protocol):
    """Counts hits per key; implementations must decide atomically across processes."""

    async def hit(self, key: str, rule: RateLimitRule) -> RateLimitResult:
        """Count one hit for `key` unless it would exceed `rule`."""
        ...

    async def reset(self, key: str) -> None:
        """Forget every hit for `key` (e.g. after a successful sign-in)."""
        ...


@dataclass(frozen=True, slots=True)
class Window:
    """Where `now` falls: the index of its fixed window and milliseconds into it."""

    index: int
    elapsed_ms: int
    size_ms: int

    @classmethod
    def at(cls, now: float, rule: RateLimitRule) -> Window:
        now_ms = int(now * 1000)
        size_ms = rule.window * 1000
        return cls(index=now_ms // size_ms, elapsed_ms=now_ms % size_ms, size_ms=size_ms)

    @property
    def ttl_ms(self) -> int:
        """How long this window's count still matters: to the end of the next window."""
        return 2 * self.size_ms - self.elapsed_ms

    def weighted(self, previous: int) -> int:
        """The share of the previous window's hits still inside the sliding window."""
        return previous * (self.size_ms - self.elapsed_ms) // self.size_ms


def allowed(rule: RateLimitRule, window: Window, previous: int, current: int) -> RateLimitResult:
    """The result for a hit that was counted, `current` including it."""
    remaining = max(0, rule.limit - window.weighted(previous) - current)
    return RateLimitResult(True, rule.limit, remaining, 0)


def blocked(rule: RateLimitRule, window: Window, previous: int, current: int) -> RateLimitResult:
    """The result for a hit that was refused with these counts."""
    return RateLimitResult(False, rule.limit, 0, _retry_after(rule, window, previous, current))


def _retry_after(rule: RateLimitRule, window: Window, previous: int, current: int) -> int:
    """Seconds until the weighted count drops below the limit, so one more hit fits."""
    size, elapsed = window.size_ms, window.elapsed_ms
    if current >= rule.limit:
        # Wait for the next window, then until this window's hits weigh less than the limit.
        wait_ms = size - elapsed + size * (1 - rule.limit / current)
    else:
        # The previous window must fade until prev * (size - t) / size < limit - current.
        wait_ms = size - elapsed - (rule.limit - current) * size / previous
    return max(1, math.ceil(wait_ms / 1000 + 1e-9))
