"""Open-redirect protection: every `next`, language-switch and sign-in redirect goes through
`safe_next` as its last step, so the Location (or HX-Redirect) it sends is a path on this site.

The check reads the target the way a browser would, and the way a server that decodes the
path once more would: tabs and newlines are dropped, backslashes are slashes, and
percent-escapes are decoded. In every one of those readings the target must still be a
path on this site (`/...`, never `//host`, `scheme:` or `\\host`). What passes is sent
percent-encoded, so it is plain ASCII and always fits in a header.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

MAX_TARGET = 2000
_KEPT = "!#$%&'()*+,/:;=?@[]~"
"""Reserved characters and `%` (existing escapes) stay as they are; the rest is encoded."""
_REFUSED = re.compile(r"[\x00-\x1f\x7f\\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DROPPED = re.compile(r"[\t\n\r]")
"""What the WHATWG URL parser removes from anywhere in a URL before reading it."""
_STRIPPED = "".join(chr(code) for code in range(33))
"""What it strips from both ends: C0 controls and space."""
_DECODE_ROUNDS = 4


def safe_next(value: str | None, default: str = "/") -> str:
    """`value` as a same-site path, percent-encoded; `default` when it could leave the site."""
    if not value or len(value) > MAX_TARGET or _REFUSED.search(value):
        return default
    reading = value
    for _ in range(_DECODE_ROUNDS):
        if _leaves_site(reading):
            return default
        decoded = unquote(reading)
        if decoded == reading:
            return quote(value, safe=_KEPT)
        reading = decoded
    return default  # escapes nested deeper than any honest link


def _leaves_site(reading: str) -> bool:
    """True when a browser (or a router that decoded it) could take `reading` off this site."""
    url = _DROPPED.sub("", reading).strip(_STRIPPED).replace("\\", "/")
    if not url.startswith("/") or url.startswith("//"):
        return True
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    return bool(parts.scheme or parts.netloc)


def header_url(url: str) -> str:
    """`url` percent-encoded to ASCII for a header (HX-Redirect, HX-Location, ...); a URL
    holding a control character is refused, since it could split the header."""
    if _CONTROL.search(url):
        raise ValueError("a URL sent in a header cannot hold control characters")
    return quote(url, safe=_KEPT)
