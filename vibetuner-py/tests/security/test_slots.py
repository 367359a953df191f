"""No slot exhaustion: live streams are capped per client, per worker and for visitors, and
request bodies that stop arriving are cut off, so `/` always has room.

The caps and timeouts are checked in-process first (each fails without its defence), then
against real servers: one Granian worker under 300 stream attempts and 50 slow bodies, and
two instances that share their counts through a real redis-server.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import RedisServer
from vibetuner.config import Settings, reset_settings
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.frontend import _stream_slots
from vibetuner.frontend._stream_slots import network_of
from vibetuner.server._net import free_port
from vibetuner.server._process import stop_group
from vibetuner.services.broadcast import set_broadcaster
from vibetuner.services.sessions import get_session_store
from vibetuner.services.slots import MemorySlotStore, set_slot_store
from vibetuner.testing._live import server_env, wait_until_serving

HERE = "198.51.100.7"


# -- driving the app by hand: a test holds streams open and feeds bodies slowly ----------


class Exchange:
    """One request to an ASGI app; `body` chunks arrive as the test's iterator yields them."""

    def __init__(
        self,
        app: Any,
        method: str,
        path: str,
        *,
        client: str = HERE,
        headers: dict[str, str] | None = None,
        body: AsyncIterator[bytes] | None = None,
        http_version: str = "1.1",
    ) -> None:
        raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        self.scope = {"type": "http", "http_version": http_version, "method": method, "path": path,
                      "raw_path": path.encode(), "query_string": b"", "headers": raw,
                      "scheme": "http", "server": ("testserver", 80), "client": (client, 1),
                      "root_path": ""}  # fmt: skip
        self.body = body
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()
        self.requested = False
        self.task = asyncio.create_task(app(self.scope, self.receive, self.sent.put))

    async def receive(self) -> dict[str, Any]:
        if self.body is not None:
            try:
                return {"type": "http.request", "body": await anext(self.body), "more_body": True}
            except StopAsyncIteration:
                self.body = None
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def start(self, within: float = 5) -> tuple[int, dict[str, str]]:
        message = await asyncio.wait_for(self.sent.get(), within)
        headers = {k.decode(): v.decode() for k, v in message["headers"]}
        return message["status"], headers

    async def text(self) -> str:
        body = b""
        while True:
            message = await asyncio.wait_for(self.sent.get(), 5)
            body += message.get("body", b"")
            if not message.get("more_body", False):
                return body.decode()

    async def close(self) -> None:
        self.gone.set()
        await asyncio.wait_for(self.task, 5)


@pytest.fixture
def slots_env(settings_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings for an in-process app: memory sessions and fresh slot counts."""
    settings_env.setenv("SESSION_BACKEND", "memory")
    settings_env.setenv("TRUSTED_PROXIES", '["127.0.0.1"]')
    settings_env.setattr(_stream_slots, "_worker", MemorySlotStore())
    reset_settings()
    get_session_store.cache_clear()
    set_slot_store(None)
    set_broadcaster(None)
    yield settings_env
    get_session_store.cache_clear()
    set_slot_store(None)
    set_broadcaster(None)


def _set(env: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        env.setenv(name, value)
    reset_settings()


def _app() -> FastAPI:
    from tests.security._slots_app import build

    return build()


async def _session_cookie(app: FastAPI) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/test/sign-in")
    assert response.status_code == 200
    return f"vt_session={response.cookies['vt_session']}"


class Streams:
    """Open streams, remembered so the test closes every one of them."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.open: list[Exchange] = []

    async def status(self, client: str = HERE, cookie: str | None = None) -> int:
        headers = {"Accept": "text/event-stream"} | ({"Cookie": cookie} if cookie else {})
        exchange = Exchange(self.app, "GET", "/live", client=client, headers=headers)
        status, response_headers = await exchange.start()
        if status == 200:
            self.open.append(exchange)
            assert response_headers["content-type"].startswith("text/event-stream")
        else:
            assert status in (429, 503), status
            assert response_headers["retry-after"] == "10"
            assert "live updates" in (await exchange.text()).lower()
            await asyncio.wait_for(exchange.task, 5)
        return status

    async def close(self, exchange: Exchange | None = None) -> None:
        for stream in [exchange] if exchange else list(self.open):
            await stream.close()
            self.open.remove(stream)


@pytest.fixture
async def streams(slots_env: pytest.MonkeyPatch) -> AsyncIterator[Streams]:
    held = Streams(_app())
    yield held
    await held.close()


# -- the caps, in-process ----------------------------------------------------------------


def test_networks_are_slash_64_for_ipv6_and_slash_32_for_ipv4() -> None:
    assert (
        network_of("2001:db8:1:2::a") == network_of("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    )
    assert network_of("2001:db8:1:3::a") != network_of("2001:db8:1:2::a")
    assert network_of("198.51.100.7") == "198.51.100.7/32" == network_of("::ffff:198.51.100.7")
    assert network_of("not an address") == "not an address"


async def test_anonymous_clients_are_capped_per_network(
    streams: Streams, slots_env: pytest.MonkeyPatch
) -> None:
    _set(slots_env, SSE_MAX_PER_CLIENT="2")
    in_one_64 = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:abcd::3"]
    assert [await streams.status(a) for a in in_one_64] == [200, 200, 429]
    assert await streams.status("2001:db8:1:3::1") == 200, "the next /64 is another client"
    assert [await streams.status("198.51.100.9") for _ in range(3)] == [200, 200, 429]
    assert await streams.status("198.51.100.10") == 200, "the next /32 is another client"


async def test_signed_in_clients_are_capped_per_session(
    streams: Streams, slots_env: pytest.MonkeyPatch
) -> None:
    _set(slots_env, SSE_MAX_PER_CLIENT="2")
    first, second = await _session_cookie(streams.app), await _session_cookie(streams.app)
    assert [await streams.status(HERE, first) for _ in range(3)] == [200, 200, 429]
    assert [await streams.status(HERE, second) for _ in range(3)] == [200, 200, 429]
    assert [await streams.status(HERE) for _ in range(3)] == [200, 200, 429], (
        "visitors at the same address count apart from the signed-in sessions"
    )


async def test_a_worker_serves_at_most_its_cap_of_streams(
    streams: Streams, slots_env: pytest.MonkeyPatch
) -> None:
    _set(slots_env, SSE_MAX_PER_WORKER="3")
    cookie = await _session_cookie(streams.app)
    clients = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"]
    assert [await streams.status(c) for c in clients] == [200, 200, 200, 503]
    assert await streams.status(HERE, cookie) == 503, "signed in or not, the worker is full"
    await streams.close(streams.open[0])
    assert await streams.status(HERE, cookie) == 200, "a closed stream gives its slot back"


async def test_visitors_together_are_capped(
    streams: Streams, slots_env: pytest.MonkeyPatch
) -> None:
    _set(slots_env, SSE_MAX_ANONYMOUS="2")
    clients = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
    assert [await streams.status(c) for c in clients] == [200, 200, 503]
    cookie = await _session_cookie(streams.app)
    assert await streams.status(HERE, cookie) == 200, "signed-in users keep their room"


async def test_a_long_stream_keeps_its_slot_past_the_lease(
    streams: Streams, slots_env: pytest.MonkeyPatch
) -> None:
    """Shared slots are leased (a killed instance's run out); a live stream renews its own."""
    _set(slots_env, SSE_MAX_PER_CLIENT="1")
    set_slot_store(MemorySlotStore(lease=0.3))
    assert await streams.status() == 200
    deadline = time.monotonic() + 1.0  # three leases
    while time.monotonic() < deadline:
        assert await streams.status() == 429
        await asyncio.sleep(0.05)


def test_the_default_worker_cap_leaves_pages_room() -> None:
    from pydantic import ValidationError

    assert Settings().sse_worker_cap == 128 < Settings().server_backpressure == 256
    assert Settings(server_backpressure=64).sse_worker_cap == 32
    with pytest.raises(ValidationError, match="must be below SERVER_BACKPRESSURE"):
        Settings(sse_max_per_worker=256)


async def test_head_of_a_stream_answers_like_get_and_keeps_no_slot(
    streams: Streams, slots_env: pytest.MonkeyPatch
) -> None:
    _set(slots_env, SSE_MAX_PER_WORKER="1")

    async def head() -> int:
        exchange = Exchange(streams.app, "HEAD", "/live")
        status = (await exchange.start())[0]
        await asyncio.wait_for(exchange.task, 5)
        return status

    assert [await head(), await head()] == [200, 200]
    assert await streams.status() == 200
    assert await head() == 503, "what GET would answer now"


# -- request bodies, in-process -----------------------------------------------------------


async def _stalls() -> AsyncIterator[bytes]:
    """A few bytes, then nothing more."""
    yield b"abc"
    await asyncio.Event().wait()


async def _trickles() -> AsyncIterator[bytes]:
    """A byte every 50 ms, for ever: never idle for long, never done."""
    while True:
        yield b"a"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/test/echo", "application/octet-stream"),  # read by the route
     ("/form", "application/x-www-form-urlencoded")],  # read by the CSRF middleware first
)  # fmt: skip
async def test_a_body_that_stops_arriving_gets_408(
    slots_env: pytest.MonkeyPatch, path: str, content_type: str
) -> None:
    _set(slots_env, REQUEST_BODY_IDLE_TIMEOUT="0.3")
    headers = {"Content-Type": content_type, "Content-Length": "100", "Accept": "text/html"}
    started = time.monotonic()
    exchange = Exchange(_app(), "POST", path, headers=headers, body=_stalls())
    status, response_headers = await exchange.start()
    assert status == 408 and response_headers["connection"] == "close"
    assert "took too long to arrive" in await exchange.text()
    assert time.monotonic() - started < 3
    await asyncio.wait_for(exchange.task, 5)


async def test_a_body_that_trickles_gets_408_at_the_total_limit(
    slots_env: pytest.MonkeyPatch,
) -> None:
    _set(slots_env, REQUEST_BODY_IDLE_TIMEOUT="0.3")
    _set(slots_env, REQUEST_BODY_TIMEOUT="0.8")
    headers = {"Content-Type": "application/octet-stream", "Accept": "application/json",
               "Transfer-Encoding": "chunked"}  # fmt: skip
    started = time.monotonic()
    exchange = Exchange(_app(), "POST", "/test/echo", headers=headers, body=_trickles())
    status, _headers = await exchange.start()
    assert status == 408
    assert json.loads(await exchange.text())["detail"].startswith("The request took too long")
    assert 0.7 < time.monotonic() - started < 3


async def test_a_body_over_the_limit_gets_413(slots_env: pytest.MonkeyPatch) -> None:
    _set(slots_env, REQUEST_MAX_BODY_BYTES="1000")

    async def big() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield bytes(100)

    headers = {"Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"}
    exchange = Exchange(_app(), "POST", "/test/echo", headers=headers, body=big())
    assert (await exchange.start())[0] == 413
    pulled = 0

    async def counted() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(20):
            pulled += 1
            yield bytes(100)

    declared = {"Content-Type": "application/octet-stream", "Content-Length": "2000"}
    exchange = Exchange(_app(), "POST", "/test/echo", headers=declared, body=counted())
    status, response_headers = await exchange.start()
    assert status == 413 and response_headers["connection"] == "close"
    assert pulled == 0  # refused by its Content-Length, before anything read the body
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/test/echo", content=bytes(1000))).text == "1000"


async def test_one_network_sends_at_most_its_cap_of_bodies_at_once(
    slots_env: pytest.MonkeyPatch,
) -> None:
    """Bodies trickled within the idle limit each hold one of the worker's places for up to
    REQUEST_BODY_TIMEOUT: one network gets REQUEST_BODIES_PER_CLIENT of them at a time."""
    _set(slots_env, REQUEST_BODIES_PER_CLIENT="2")
    app = _app()
    release = asyncio.Event()

    async def held() -> AsyncIterator[bytes]:
        yield b"abc"
        await release.wait()

    headers = {"Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked",
               "Accept": "application/json"}  # fmt: skip

    def post(client: str, body: AsyncIterator[bytes] | None = None) -> Exchange:
        return Exchange(app, "POST", "/test/echo", client=client, headers=headers, body=body)

    first, second = post("2001:db8:5::1", held()), post("2001:db8:5::2", held())
    third = post("2001:db8:5:0:ffff::3", held())  # the same /64
    status, refused = await third.start()
    assert status == 429 and refused["retry-after"] == "5" and refused["connection"] == "close"
    assert "still arriving" in json.loads(await third.text())["detail"]
    elsewhere = post("2001:db8:6::1")  # another network: its own two
    assert (await elsewhere.start())[0] == 200
    # HTTP/2 declares no body length: a page that reads none takes no place.
    pages = [Exchange(app, "GET", "/", client="2001:db8:5::9", http_version="2") for _ in range(3)]
    assert [(await page.start())[0] for page in pages] == [200, 200, 200]
    release.set()  # the first two bodies arrive: the network has room again
    assert [(await first.start())[0], (await second.start())[0]] == [200, 200]
    again = post("2001:db8:5::4")
    assert (await again.start())[0] == 200 and await again.text() == "0"


# -- real servers: `vibetuner run` (Granian), reached through a trusted proxy's headers ----

ROOT = Path(__file__).resolve().parents[2]  # vibetuner-py: `tests.security._slots_app` imports


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def launched(workdir: Path, database_url: str, **settings: str) -> Iterator[Served]:
    """`vibetuner run dev --no-reload` (one Granian worker) on a free port; stopped (SIGTERM,
    then SIGKILL after 20 s) on the way out unless the test stopped it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(
        DATABASE_URL=database_url, PROJECT_ROOT=str(workdir), PYTHONPATH=str(ROOT),
        TRUSTED_PROXIES='["127.0.0.1"]', SSE_KEEPALIVE_SECONDS="30", **settings,
    )  # fmt: skip
    log = workdir / f"server-{port}.log"
    vibetuner = Path(sys.executable).parent / "vibetuner"
    command = [str(vibetuner), "run", "dev", "--no-reload", "--host", "127.0.0.1",
               "--port", str(port), "--app", "tests.security._slots_app:app"]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_until_serving(process, url, log)
            yield Served(url, process, log)
        finally:
            stop_group(process)


@contextmanager
def serving(workdir: Path, database_url: str, **settings: str) -> Iterator[str]:
    """`launched`'s server; its base URL."""
    with launched(workdir, database_url, **settings) as served:
        yield served.url


class Wire:
    """Raw HTTP/1.1 connections, each from a client the trusted proxy names."""

    def __init__(self, url: str) -> None:
        self.port = int(url.rsplit(":", 1)[1])
        self.open: list[asyncio.StreamWriter] = []

    async def request(
        self, path: str, client: str, *, method: str = "GET", cookie: str | None = None,
        extra: str = "",
    ) -> tuple[int, dict[str, str], asyncio.StreamReader, asyncio.StreamWriter]:  # fmt: skip
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.open.append(writer)
        head = f"{method} {path} HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: {client}\r\n"
        head += f"Cookie: {cookie}\r\n" if cookie else ""
        writer.write((head + extra + "\r\n").encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines if ": " in line)
        return int(status_line.split()[1]), headers, reader, writer

    async def stream(self, client: str, cookie: str | None = None) -> int:
        """Open a stream; a refused one must say when to retry, and is closed at once."""
        status, headers, _reader, writer = await self.request("/live", client, cookie=cookie)
        assert status in (200, 429, 503), status
        if status != 200:
            assert int(headers["retry-after"]) >= 1
            writer.close()
        return status

    async def slow_body(self, client: str, *, trickle: bool) -> int:
        """POST a body that stops after a few bytes, or trickles a byte every 0.5 s."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.open.append(writer)
        head = (f"POST /test/echo HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: {client}\r\n"
                "Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n"
                "\r\nabc")  # fmt: skip
        writer.write(head.encode())
        await writer.drain()
        answer = asyncio.ensure_future(reader.readuntil(b"\r\n"))
        while trickle and not answer.done():
            writer.write(b"a")
            await writer.drain()
            await asyncio.wait({answer}, timeout=0.5)
        status_line = await asyncio.wait_for(answer, 30)
        writer.close()
        return int(status_line.split()[1])

    def close(self) -> None:
        for writer in self.open:
            writer.close()
        self.open.clear()


async def _sign_in(url: str, count: int) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        cookies = []
        for _ in range(count):
            client.cookies.clear()
            response = await client.post("/test/sign-in")
            assert response.status_code == 200
            cookies.append(f"vt_session={response.cookies['vt_session']}")
    return cookies


async def _home_answers(url: str) -> float:
    """`/` on a fresh connection, from yet another client: how long it took."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=5) as client:
        page = await client.get(f"{url}/", headers={"X-Forwarded-For": "203.0.113.250"})
    assert page.status_code == 200 and page.text == "home"
    return time.monotonic() - started


async def test_a_worker_under_300_streams_and_50_slow_bodies_still_serves_pages(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    database = (
        f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}/slots_{uuid.uuid4().hex[:8]}"
    )
    caps = {"SSE_MAX_PER_WORKER": "100", "SSE_MAX_PER_CLIENT": "3", "SSE_MAX_ANONYMOUS": "60",
            "SERVER_BACKPRESSURE": "160", "SESSION_BACKEND": "memory",
            "REQUEST_BODY_IDLE_TIMEOUT": "3", "REQUEST_BODY_TIMEOUT": "6"}  # fmt: skip
    with serving(tmp_path, database, **caps) as url:
        wire = Wire(url)
        try:
            cookies = await _sign_in(url, 40)
            bodies = [asyncio.ensure_future(wire.slow_body(f"203.0.113.{i}", trickle=i % 2 == 0))
                      for i in range(1, 51)]  # fmt: skip
            # One IPv6 /64 of 40 addresses, 100 IPv4 visitors, 40 sessions with 4 tabs each.
            one_64 = [wire.stream(f"2001:db8:5:5::{i:x}") for i in range(1, 41)]
            by_64 = await asyncio.gather(*one_64)
            visitors = await asyncio.gather(
                *(wire.stream(f"198.51.100.{i}") for i in range(1, 101))
            )
            tabs = [cookie for cookie in cookies for _ in range(4)]
            members = await asyncio.gather(*(wire.stream(f"203.0.113.{100 + i % 50}", cookie)
                                             for i, cookie in enumerate(tabs)))  # fmt: skip
            assert await _home_answers(url) < 5, "liveness, not speed"
            assert sorted(by_64) == [200] * 3 + [429] * 37
            assert sorted(visitors) == [200] * 57 + [503] * 43, "60 visitors' streams in all"
            assert members.count(200) == 40, "the worker's cap: 100 streams"
            assert set(members) == {200, 429, 503}
            assert (by_64 + visitors + members).count(200) == 100
            huge = f"X-Huge: {'a' * 100_000}\r\n"
            assert (await wire.request("/", "203.0.113.251", extra=huge))[0] == 431
            statuses = await asyncio.wait_for(asyncio.gather(*bodies), 30)
            assert statuses == [408] * 50
            assert await _home_answers(url) < 5
        finally:
            wire.close()


async def _until_status(wire: Wire, client: str, status: int) -> None:
    """Open streams until one gets `status` (a release on another instance lands soon)."""
    deadline = time.monotonic() + 10
    while (got := await wire.stream(client)) != status:
        assert time.monotonic() < deadline, f"still {got}"
        await asyncio.sleep(0.05)


async def _until_logged(log: Path, text: str) -> None:
    deadline = time.monotonic() + 30
    while text not in await asyncio.to_thread(log.read_text, errors="replace"):
        assert time.monotonic() < deadline, f"never logged {text!r}"
        await asyncio.sleep(0.05)


async def test_a_client_that_stops_reading_is_reset_and_holds_no_stop(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    """Dropped for SSE_SEND_TIMEOUT, a client that stops reading has its connection reset.
    What the server could not send held the connection open for as long as the client
    liked, and the server's stop until SERVER_SHUTDOWN_TIMEOUT killed the worker."""
    database = (
        f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}/slots_{uuid.uuid4().hex[:8]}"
    )
    settings = {"SSE_SEND_TIMEOUT": "1", "SERVER_SHUTDOWN_TIMEOUT": "120"}
    with launched(tmp_path, database, **settings) as served:
        wire = Wire(served.url)
        try:
            assert await wire.stream("198.51.100.40") == 200  # and never read again
            async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
                published = await client.post("/test/publish?count=200&size=100000")
            assert published.status_code == 200
            await _until_logged(served.log, "its client stopped reading")
            # The client still holds on. SIGTERM to the launcher, as a supervisor sends it (to
            # the whole group, the worker would also stop by itself and race the launcher).
            served.process.send_signal(signal.SIGTERM)
            assert served.process.wait(timeout=20) == 0  # a liveness bound: about 2 s
        finally:
            wire.close()
    assert "Killing" not in served.log.read_text()


async def test_two_instances_share_the_caps_through_redis(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo, redis_server: RedisServer
) -> None:
    database = (
        f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}/slots_{uuid.uuid4().hex[:8]}"
    )
    caps = {"REDIS_URL": redis_server.url, "SSE_MAX_PER_CLIENT": "2", "SSE_MAX_ANONYMOUS": "3",
            "SSE_SEND_TIMEOUT": "1"}  # fmt: skip
    with (
        serving(tmp_path, database, **caps) as first,
        serving(tmp_path, database, **caps) as second,
    ):
        one, other = Wire(first), Wire(second)
        try:
            visitor = "2001:db8:7:7::1"
            assert [await one.stream(visitor), await other.stream("2001:db8:7:7::2")] == [200, 200]
            assert await other.stream(visitor) == 429, "the /64 has its 2 streams, across instances"
            (member,) = await _sign_in(first, 1)  # sessions live in Redis: both know it
            assert [await one.stream(visitor, member), await other.stream(visitor, member),
                    await one.stream(visitor, member)] == [200, 200, 429]  # fmt: skip
            assert await one.stream("198.51.100.20") == 200, "the visitors' third stream"
            assert await other.stream("198.51.100.21") == 503, "visitors have 3, across instances"
            one.close()  # the first instance's visitors leave: the second has room again
            await _until_status(other, "198.51.100.21", 200)

            # A client that stops reading is dropped once an event waits SSE_SEND_TIMEOUT.
            other.close()
            stuck = "198.51.100.30"
            for _ in range(2):  # once the streams closed above have given their slots back
                await _until_status(other, stuck, 200)
            assert await other.stream(stuck) == 429
            async with httpx.AsyncClient(base_url=first, timeout=30) as client:
                published = await client.post("/test/publish?count=200&size=100000")
            assert published.status_code == 200
            await _until_status(other, stuck, 200)
        finally:
            one.close()
            other.close()
