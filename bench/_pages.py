"""Is the raw app's page the app's page? Compared after blanking per-request values."""

import difflib
import re

# Values a page gets fresh on every request: CSP nonces and CSRF tokens.
_PER_REQUEST = [
    (re.compile(r'(\bnonce=")[^"]*(")'), r"\1\2"),
    (re.compile(r'(name="csrf_token" value=")[^"]*(")'), r"\1\2"),
    (re.compile(r'("X-CSRF-Token"\] = ")[^"]*(")'), r"\1\2"),
]
# Content hashes in static URLs: another commit may build other bundles.
_STATIC_HASH = (re.compile(r"(/static/)[0-9a-f]+(/)"), r"\1\2")


def normalize(html: str, *, static_hashes: bool = False) -> str:
    for pattern, blank in [*_PER_REQUEST, *([_STATIC_HASH] if static_hashes else [])]:
        html = pattern.sub(blank, html)
    return html


def difference(
    expected: str,
    actual: str,
    names: tuple[str, str],
    lines: int = 40,
    *,
    static_hashes: bool = False,
) -> str:
    """'' when the pages are the same but for per-request values (and, with
    `static_hashes`, the hashes in static URLs), else a unified diff."""
    a = normalize(expected, static_hashes=static_hashes)
    b = normalize(actual, static_hashes=static_hashes)
    if a == b:
        return ""
    diff = difflib.unified_diff(
        a.splitlines(), b.splitlines(), names[0], names[1], n=1, lineterm=""
    )
    shown = list(diff)
    more = len(shown) - lines
    return "\n".join(
        shown[:lines] + ([f"... ({more} more diff lines)"] if more > 0 else [])
    )
