"""Open-redirect protection: `next` may only be a path on this site."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(value: str | None, default: str = "/") -> str:
    """`value` when it is a same-origin relative path, else `default`."""
    if not value or len(value) > 2000:
        return default
    if any(ord(ch) < 32 or ch == "\\" for ch in value):
        return default
    if not value.startswith("/") or value.startswith("//"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
