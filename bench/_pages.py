"""Is the raw app's page the app's page? Compared after blanking per-request values."""

import difflib
import re

# Values a page gets fresh on every request: CSP nonces and CSRF tokens.
_PER_REQUEST = [
    (re.compile(r'(\bnonce=")[^"]*(")'), r"\1\2"),
    (re.compile(r'(name="csrf_token" value=")[^"]*(")'), r"\1\2"),
    (re.compile(r'("X-CSRF-Token"\] = ")[^"]*(")'), r"\1\2"),
]


def normalize(html: str) -> str:
    for pattern, blank in _PER_REQUEST:
        html = pattern.sub(blank, html)
    return html


def difference(
    expected: str, actual: str, names: tuple[str, str], lines: int = 40
) -> str:
    """'' when the pages are the same but for per-request values, else a unified diff."""
    a, b = normalize(expected), normalize(actual)
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
