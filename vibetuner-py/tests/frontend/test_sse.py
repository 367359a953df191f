"""SSE streams: framing, replay after Last-Event-ID, keepalives, cleanup, and two real servers."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from tests.conftest import RedisServer
from vibetuner.frontend._sse import EventStreamResponse, sse_response
from vibetuner.frontend._sse_stream import format_event
from vibetuner.server._net import free_port
from vibetuner.services.broadcast import Event, MemoryBroadcaster


def test_format_event_splits_every_kind_of_newline() -> None:
    event = Event(id="7", data="<li>a</li>\r\n<li>b</li>\rc\nd", event="post")
    assert format_event(event) == (
        b"id: 7\nevent: post\ndata: <li>a</li>\ndata: <li>b</li>\ndata: c\ndata: d\n\n"
    )
    assert format_event(Event(id="8", data="")) == b"id: 8\ndata: \n\n"


class Stream:
    """Drive an ASGI app by hand, so a test can read an endless response as it streams."""

    def __init__(self, app: Any, headers: dict[str, str] | None = None) -> None:
        raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        self.scope = {"type": "http", "http_version": "1.1", "method": "GET", "path": "/live",
                      "raw_path": b"/live", "query_string": b"", "headers": raw,
                      "scheme": "http", "server": ("test", 80),
                      "client": ("127.0.0.1", 1)}  # fmt: skip
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()
        self.requested = False
        self.task = asyncio.create_task(app(self.scope, self.receive, self.sent.put))
        self.text = ""

    async def receive(self) -> dict[str, Any]:
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def start(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.sent.get(), 5)

    async def read_until(self, needle: str) -> str:
        while needle not in self.text:
            message = await asyncio.wait_for(self.sent.get(), 5)
            self.text += message.get("body", b"").decode()
        return self.text

    async def disconnect(self) -> None:
        self.gone.set()
        await asyncio.wait_for(self.task, 5)


def _app(broadcaster: MemoryBroadcaster, keepalive: float = 30) -> Starlette:
    async def live(request: Request) -> EventStreamResponse:
        return sse_response(request, "news", broadcaster=broadcaster, keepalive=keepalive)

    return Starlette(routes=[Route("/live", live)])


async def test_stream_sends_headers_then_each_event() -> None:
    hub = MemoryBroadcaster()
    stream = Stream(_app(hub))
    start = await stream.start()
    headers = dict(start["headers"])
    assert start["status"] == 200
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert headers[b"cache-control"] == b"no-store" and b"content-length" not in headers
    await stream.read_until(": connected\n\n")
    assert hub.subscribers("news") == 1, "subscribed before the headers went out"
    await hub.publish("news", "<li>one</li>\n<li>two</li>")
    await hub.publish("news", "{}", event="refresh")
    text = await stream.read_until("event: refresh")
    assert "id: 1\ndata: <li>one</li>\ndata: <li>two</li>\n\n" in text
    await stream.disconnect()
    assert hub.subscribers() == 0


async def test_last_event_id_replays_what_was_missed() -> None:
    hub = MemoryBroadcaster(replay_size=10)
    for i in range(1, 4):
        await hub.publish("news", f"e{i}")
    stream = Stream(_app(hub), headers={"Last-Event-ID": "1"})
    await stream.start()
    await hub.publish("news", "e4")
    text = await stream.read_until("data: e4")
    assert "data: e1" not in text
    assert text.index("id: 2") < text.index("id: 3") < text.index("id: 4")
    assert text.count("data: e") == 3, "nothing is sent twice"
    await stream.disconnect()


async def test_quiet_streams_send_keepalive_comments() -> None:
    hub = MemoryBroadcaster()
    stream = Stream(_app(hub, keepalive=0.05))
    await stream.start()
    await stream.read_until(": keepalive\n\n")
    await stream.disconnect()
    assert hub.subscribers() == 0


async def test_keepalive_defaults_to_the_setting(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("SSE_KEEPALIVE_SECONDS", "2.5")
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"last-event-id", b"9")]}
    response = sse_response(Request(scope), "c", broadcaster=MemoryBroadcaster())
    assert (response.keepalive, response.last_event_id) == (2.5, "9")


# -- two real server processes on one Redis, and a third process that broadcasts ---------

APP = """
from starlette.applications import Starlette
from starlette.routing import Route

from vibetuner.frontend._sse import sse_response


async def live(request):
    return sse_response(request, "news")


app = Starlette(routes=[Route("/live", live)])
"""


@pytest.fixture
def servers(
    tmp_path: Path, redis_server: RedisServer
) -> Iterator[tuple[list[str], dict[str, str]]]:
    (tmp_path / "sse_test_app.py").write_text(APP)
    env = {**os.environ, "REDIS_URL": redis_server.url, "PYTHONPATH": str(tmp_path),
           "VIBETUNER_ENV_FILE": str(tmp_path / "none.env"),
           "PROJECT_ROOT": str(tmp_path)}  # fmt: skip
    processes, bases = [], []
    try:
        for _ in range(2):
            port = free_port()
            command = [sys.executable, "-m", "granian", "--interface", "asgi", "--host",
                       "127.0.0.1", "--port", str(port), "--workers", "1",
                       "--workers-kill-timeout", "2", "sse_test_app:app"]  # fmt: skip
            quiet = subprocess.DEVNULL
            processes.append(
                subprocess.Popen(command, cwd=tmp_path, env=env, stdout=quiet, stderr=quiet)
            )
            bases.append(f"http://127.0.0.1:{port}")
        for base, process in zip(bases, processes, strict=True):
            _wait_listening(base, process)
        yield bases, env
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_listening(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("granian exited")
        try:
            httpx.get(f"{base}/missing", timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{base} did not start")


WORKER = """
import asyncio
from vibetuner.data._redis import close_redis
from vibetuner.services.broadcast import broadcast

async def main():
    await broadcast("news", "<li>from the worker</li>\\n<li>line two</li>")
    await close_redis()

asyncio.run(main())
"""


async def _collect(response: httpx.Response, needle: str) -> str:
    text = ""
    async for chunk in response.aiter_text():
        text += chunk
        if needle in text:
            return text
    return text


async def _open(client: httpx.AsyncClient, url: str, stack: AsyncExitStack) -> httpx.Response:
    response = await stack.enter_async_context(client.stream("GET", url))
    assert response.headers["content-type"].startswith("text/event-stream")
    return response


async def test_two_servers_receive_a_broadcast_from_a_third_process(
    servers: tuple[list[str], dict[str, str]],
) -> None:
    bases, env = servers
    async with httpx.AsyncClient(timeout=10) as client, AsyncExitStack() as stack:
        first = await _open(client, f"{bases[0]}/live", stack)
        second = await _open(client, f"{bases[1]}/live", stack)
        worker = await asyncio.create_subprocess_exec(sys.executable, "-c", WORKER, env=env)
        assert await asyncio.wait_for(worker.wait(), 20) == 0
        texts = await asyncio.wait_for(
            asyncio.gather(_collect(first, "line two"), _collect(second, "line two")), 10
        )
    for text in texts:
        assert "data: <li>from the worker</li>\ndata: <li>line two</li>\n\n" in text
        event_id = text.split("id: ", 1)[1].split("\n", 1)[0]
        assert event_id.count("-") == 1, "ids are Redis stream ids"

    # A client that reconnects to either server with Last-Event-ID gets what it missed.
    script = WORKER.replace("from the worker", "while away").replace("line two", "again")
    worker = await asyncio.create_subprocess_exec(sys.executable, "-c", script, env=env)
    assert await asyncio.wait_for(worker.wait(), 20) == 0
    async with httpx.AsyncClient(timeout=10) as client:
        headers = {"Last-Event-ID": event_id}
        async with client.stream("GET", f"{bases[1]}/live", headers=headers) as again:
            text = await asyncio.wait_for(_collect(again, "again"), 10)
    assert "while away" in text and "from the worker" not in text
    assert await _subscribers_drop_to_zero(env["REDIS_URL"]), "a server kept its subscription"


async def _subscribers_drop_to_zero(url: str) -> bool:
    from coredis import Redis

    async with Redis.from_url(url) as redis:
        for _ in range(50):
            if await redis.pubsub_numsub("vibetuner:broadcast:events") == {
                b"vibetuner:broadcast:events": 0
            }:
                return True
            await asyncio.sleep(0.1)
        return False
