"""The allowed-hosts check: Starlette's pattern rules, IPv6 literals, probes exempt."""

from __future__ import annotations

from typing import Any

import pytest

from tests.frontend._apps import raw_get
from vibetuner.frontend._hosts import AllowedHostsMiddleware


async def _reached(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _status(middleware: AllowedHostsMiddleware, host: bytes | None, path: str = "/") -> int:
    return await _answer(middleware, [] if host is None else [(b"host", host)], path)


async def _answer(app: Any, headers: list[tuple[bytes, bytes]], path: str = "/") -> int:
    return int((await raw_get(app, path, headers=headers))[0]["status"])


@pytest.mark.parametrize(
    ("host", "status"),
    [
        (b"example.com", 204),
        (b"EXAMPLE.com:8443", 204),
        (b"a.b.example.org", 204),
        (b"example.org", 400),  # `*.example.org` names subdomains only
        (b"evil.com", 400),
        (b"example.com.evil.com", 400),
        (b"[::1]:8000", 204),
        (b"[::2]", 400),
        (None, 400),
    ],
)
async def test_hosts_match_as_starlette_names_them(host: bytes | None, status: int) -> None:
    middleware = AllowedHostsMiddleware(_reached, allowed=["example.com", "*.example.org", "::1"])
    assert await _status(middleware, host) == status
    assert await _status(middleware, host) == status  # the second time from the seen set


async def test_probes_pass_with_any_host() -> None:
    middleware = AllowedHostsMiddleware(_reached, allowed=["example.com"])
    assert await _status(middleware, b"10.0.0.7:8000", "/health/ready") == 204
    assert await _status(middleware, b"10.0.0.7:8000", "/metrics") == 204


async def test_the_seen_set_stays_small_under_a_wildcard() -> None:
    middleware = AllowedHostsMiddleware(_reached, allowed=["*.example.org"])
    for n in range(1000):
        assert await _status(middleware, f"x{n}.example.org".encode()) == 204
    assert len(middleware.good) <= 256


async def test_a_forwarded_host_cannot_open_the_dev_pages() -> None:
    """A page rebound to 127.0.0.1 names its own host, and can add X-Forwarded-Host:
    localhost; with the browser's machine among TRUSTED_PROXIES that header must not
    stand in for the Host the connection sent."""
    from vibetuner.frontend._hosts import DevOnlyMiddleware
    from vibetuner.frontend._proxy import ProxyHeadersMiddleware

    app = ProxyHeadersMiddleware(
        DevOnlyMiddleware(_reached, paths={"/dev/outbox"}), trusted=["127.0.0.1"]
    )
    rebound = [(b"host", b"rebind.attacker.example"), (b"x-forwarded-host", b"localhost")]
    assert await _answer(app, rebound, "/dev/outbox") == 403
    assert await _answer(app, [(b"host", b"localhost:8000")], "/dev/outbox") == 204
    proxied = [(b"host", b"127.0.0.1:8000"), (b"x-forwarded-host", b"localhost")]
    assert await _answer(app, proxied, "/dev/outbox") == 204, "a local proxy still reaches them"
