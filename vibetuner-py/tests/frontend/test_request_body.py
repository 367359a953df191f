"""Which requests carry a body: only those pay for the body's timeouts and size count."""

from __future__ import annotations

from typing import Any

import pytest

from vibetuner.frontend._request_body import body_length


def _scope(version: str, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "http_version": version, "headers": list(headers)}


@pytest.mark.parametrize(
    ("scope", "length"),
    [
        (_scope("1.1"), 0),  # RFC 9112 6.3: no framing header, no body
        (_scope("1.1", (b"content-length", b"0")), 0),
        (_scope("1.1", (b"content-length", b"512")), 512),
        (_scope("1.0", (b"content-length", b"7")), 7),
        (_scope("1.1", (b"content-length", b"12x")), None),  # counted; the reader says 400
        (_scope("1.1", (b"content-length", b"\xb2")), None),  # a superscript two
        (_scope("1.1", (b"content-length", b"9" * 5000)), None),  # int() would refuse it
        (_scope("1.1", (b"transfer-encoding", b"chunked")), None),
        (_scope("1.1", (b"content-length", b"5"), (b"transfer-encoding", b"chunked")), None),
        (_scope("2"), None),  # HTTP/2 and 3 may send DATA frames without a length
        (_scope("3", (b"content-length", b"0")), None),
    ],
)
def test_body_length(scope: dict[str, Any], length: int | None) -> None:
    assert body_length(scope) == length
