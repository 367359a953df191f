"""METRICS_PORT: /metrics on a port of its own (what deploy/k8s scrapes), under the same
access rules, and no longer on the app's port."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.monitoring.conftest import build, client
from vibetuner.config import get_settings, reset_settings
from vibetuner.monitoring import serve_metrics_port
from vibetuner.server._net import free_port


@pytest.fixture
def port(env: pytest.MonkeyPatch) -> Iterator[int]:
    chosen = free_port()
    env.setenv("METRICS_PORT", str(chosen))
    reset_settings()
    yield chosen


async def _get(url: str, **headers: str) -> httpx.Response:
    # From a thread: the scrape refreshes its gauges on this test's event loop.
    return await asyncio.to_thread(httpx.get, url, headers=headers, timeout=10)


async def test_the_metrics_port_serves_the_scrape_and_the_app_port_does_not(port: int) -> None:
    stop = serve_metrics_port(get_settings(), asyncio.get_running_loop())
    assert stop is not None
    try:
        async with client(build(), "127.0.0.1") as http:
            await http.get("/posts/1")
            on_app_port = await http.get("/metrics")
        scrape = await _get(f"http://127.0.0.1:{port}/metrics")
        other = await _get(f"http://127.0.0.1:{port}/posts/1")
        assert serve_metrics_port(get_settings(), asyncio.get_running_loop()) is None, (
            "a second worker leaves the port to the first"
        )
    finally:
        stop()
    assert on_app_port.status_code == 404
    assert scrape.status_code == 200
    assert "vibetuner_http_responses_total" in scrape.text
    assert other.status_code == 404


async def test_the_metrics_port_keeps_the_access_rules(port: int, env: pytest.MonkeyPatch) -> None:
    env.setenv("ENVIRONMENT", "prod")
    env.setenv("METRICS_TOKEN", "scrape-token-0123456789")
    reset_settings()
    stop = serve_metrics_port(get_settings(), asyncio.get_running_loop())
    assert stop is not None
    try:
        anonymous = await _get(f"http://127.0.0.1:{port}/metrics")
        bearer = await _get(f"http://127.0.0.1:{port}/metrics",
                            Authorization="Bearer scrape-token-0123456789")  # fmt: skip
    finally:
        stop()
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert bearer.status_code == 200


async def test_without_a_port_nothing_listens(env: pytest.MonkeyPatch) -> None:
    assert serve_metrics_port(get_settings(), asyncio.get_running_loop()) is None
