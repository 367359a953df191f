"""Draining before shutdown: the marker turns readiness (/health/ready) to 503 while liveness
(/health/ping) stays 200, closes connections and ends live streams; a real `vibetuner run
prod` does it on SIGTERM and finishes in-flight requests. (tests/scale proves it end to end
behind Caddy.)"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.frontend.test_sse import Stream
from vibetuner.config import Settings
from vibetuner.frontend._middleware import HealthPingMiddleware
from vibetuner.frontend._routes.health import router as health_router
from vibetuner.frontend._sse import EventStreamResponse, sse_response
from vibetuner.server import _drain
from vibetuner.server._granian import granian_options
from vibetuner.services.broadcast import MemoryBroadcaster


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "draining"
    monkeypatch.setenv(_drain.ENV_VAR, str(path))
    yield path
    _drain.stop_watching()
    _drain._draining = False


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hi")


async def _until_draining() -> None:
    await asyncio.wait_for(_drain.wait(), 2)
    assert _drain.is_draining()


async def test_the_marker_starts_draining(marker: Path) -> None:
    assert _drain.start_watching()
    assert not _drain.start_watching(), "one watcher per process"
    waiter = asyncio.ensure_future(_drain.wait())
    await asyncio.sleep(_drain.POLL_SECONDS * 2)
    assert not waiter.done() and not _drain.is_draining()
    _drain.begin(marker)
    await asyncio.wait_for(waiter, 2)
    assert _drain.is_draining()
    await _drain.wait()  # returns at once once draining


class _DrainDuringAdd(set[asyncio.Future[None]]):
    """The drain thread's turn between a waiter's check of the flag and its registration."""

    def add(self, waiter: asyncio.Future[None]) -> None:
        _drain._set()  # sets the flag, then resolves the waiters it sees: not this one yet
        super().add(waiter)


async def test_a_waiter_registered_as_the_drain_begins_is_not_left_waiting(
    marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live stream that checked the flag just before the drain set it, and registered just
    after the drain resolved every waiter, waited for good: its stream held the stop."""
    monkeypatch.setattr(_drain, "_waiters", _DrainDuringAdd())
    await asyncio.wait_for(_drain.wait(), 2)


def test_without_a_launcher_nothing_is_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_drain.ENV_VAR, raising=False)
    assert _drain.marker() is None and not _drain.start_watching()


async def test_draining_turns_ready_503_keeps_ping_200_and_closes_connections(
    marker: Path,
) -> None:
    inner = FastAPI()
    inner.include_router(health_router)
    inner.add_api_route("/", _hello)
    app = HealthPingMiddleware(inner)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/health/ping")).status_code == 200
        assert "connection" not in (await client.get("/")).headers
        _drain.start_watching()
        _drain.begin(marker)
        await _until_draining()
        ping = await client.get("/health/ping")
        head = await client.head("/health/ping")
        ready = await client.get("/health/ready")
        page = await client.get("/")
    assert ping.status_code == 200 and ping.json() == {"status": "ok"}, "liveness stays 200"
    assert head.status_code == 200
    assert ready.status_code == 503 and ready.json() == {"status": "draining"}
    assert ready.headers["connection"] == "close"
    assert ready.headers["cache-control"] == "no-store"
    assert page.text == "hi" and page.headers["connection"] == "close"


async def test_live_streams_end_when_draining_begins(marker: Path) -> None:
    hub = MemoryBroadcaster()

    async def live(request: Request) -> EventStreamResponse:
        return sse_response(request, "news", broadcaster=hub, keepalive=30)

    stream = Stream(Starlette(routes=[Route("/live", live)]))
    await stream.start()
    await stream.read_until(": connected\n\n")
    _drain.start_watching()
    _drain.begin(marker)
    await asyncio.wait_for(stream.task, 2)
    assert hub.subscribers() == 0


def test_server_settings_reach_granian() -> None:
    settings = Settings(
        server_threads=2, server_backpressure=64, server_header_timeout=2.5,
        server_keep_alive=False, server_shutdown_timeout=12,
    )  # fmt: skip
    options = granian_options(settings)
    assert options["runtime_threads"] == 2 and options["backpressure"] == 64
    assert options["http1_settings"].header_read_timeout == 2500
    assert options["http1_settings"].keep_alive is False
    assert options["workers_kill_timeout"] == 12


def test_server_settings_are_validated() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Settings(server_header_timeout=0)
    with pytest.raises(ValidationError):
        Settings(server_backpressure=0)


def _served(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    """(client, the server's side) of one connection to `listener`."""
    client = socket.create_connection(listener.getsockname(), timeout=10)
    server, _ = listener.accept()
    return client, server


def _reset_at(client: socket.socket) -> float:
    """When the server's side of `client`'s connection was reset (the client reads its end)."""
    client.settimeout(10)
    with contextlib.suppress(ConnectionResetError):
        assert client.recv(1) == b""
    return time.monotonic()


@pytest.mark.parametrize("listening", [True, False], ids=["listening", "not-listening"])
def test_the_reset_counts_from_this_workers_stop(tmp_path: Path, listening: bool) -> None:
    """The count starts when the server's listener closes; another listener (METRICS_PORT)
    does not hold it. A worker not listening when the drain begins (still starting, or forked
    during it) is stopped with the rest when the drain is over: the count starts there, not
    at once, which reset requests still being served during a long drain."""
    drain, reset_after = 0.6, 0.3
    path, stopped = tmp_path / "draining", threading.Event()
    server_listener = socket.create_server(("127.0.0.1", 0))
    other = socket.create_server(("127.0.0.1", 0))  # open throughout, like /metrics
    port = server_listener.getsockname()[1]
    client, served = _served(server_listener)
    other_client, other_served = _served(other)
    if not listening:
        server_listener.close()
    args = (path, stopped, reset_after, port, drain)
    watcher = threading.Thread(target=_drain._poll, args=args, daemon=True)
    try:
        watcher.start()
        _drain.begin(path)
        began = time.monotonic()
        if listening:
            time.sleep(drain)  # the drain: the server still listens
            server_listener.close()
        # a file's time is the kernel's coarse clock: up to a few ms before `began`
        assert _reset_at(client) - began >= drain + reset_after - 0.05
        other_client.settimeout(0.2)
        with pytest.raises(TimeoutError):
            other_client.recv(1)  # another port's connection is left alone
    finally:
        stopped.set()
        watcher.join(5)
        _drain._draining = False
        for sock in (server_listener, other, client, served, other_client, other_served):
            sock.close()
