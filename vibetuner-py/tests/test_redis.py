"""The process's Redis clients on a real redis-server: URLs, outages, and cached session reads."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from coredis.exceptions import ConnectionError as RedisConnectionError
from coredis.exceptions import RedisError

from tests.conftest import RedisServer
from vibetuner.data._redis_clients import CachedReader, close_client, open_client
from vibetuner.server._net import free_port
from vibetuner.services.sessions import RedisSessionStore, SessionRecord, new_session_id


def _cli(server: RedisServer, *args: str) -> str:
    done = subprocess.run(
        ["redis-cli", "-p", str(server.port), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _gets(server: RedisServer) -> int:
    for line in _cli(server, "info", "commandstats").splitlines():
        if line.startswith("cmdstat_get:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> bool:
    """Poll `check` until it holds or `within` seconds pass."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.005)
    return False


@pytest.fixture
async def reader(redis_server: RedisServer) -> AsyncIterator[CachedReader]:
    cached = CachedReader.from_url(redis_server.url, cache_size=100)
    assert cached is not None
    yield cached
    await cached.close()


async def test_a_value_read_twice_is_served_from_the_process(
    reader: CachedReader, redis_server: RedisServer
) -> None:
    _cli(redis_server, "set", "session:a", "one")
    # The first read on a new connection turns tracking on, and coredis empties the cache.
    assert [await reader.get("session:a") for _ in range(2)] == [b"one"] * 2
    before = _gets(redis_server)
    assert [await reader.get("session:a") for _ in range(5)] == [b"one"] * 5
    assert _gets(redis_server) == before


async def test_a_change_by_another_client_is_seen_promptly(
    reader: CachedReader, redis_server: RedisServer
) -> None:
    _cli(redis_server, "set", "session:b", "one")
    assert await reader.get("session:b") == b"one"
    for command, expected in (
        (("set", "session:b", "two"), b"two"),
        (("del", "session:b"), None),
        (("set", "session:b", "three"), b"three"),
        (("flushall",), None),
    ):
        _cli(redis_server, *command)

        async def seen(expected: bytes | None = expected) -> bool:
            return await reader.get("session:b") == expected

        assert await _eventually(seen), f"{command} was not seen"


_OTHER_PROCESS = """
import asyncio, sys
from vibetuner.data._redis_clients import close_client, open_client
from vibetuner.services.sessions import RedisSessionStore, SessionRecord

async def main(url, action, session_id):
    client = open_client(url)
    store = RedisSessionStore(client)
    if action == "save":
        record = SessionRecord(id=session_id, data={"step": 2}, user_id="u1")
        record.touch(60)
        await store.save(record)
    else:
        await store.delete(session_id)
    await close_client(client)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_a_session_changed_by_another_process_is_seen_promptly(
    reader: CachedReader, redis_server: RedisServer
) -> None:
    client = open_client(redis_server.url)
    store = RedisSessionStore(client, cached=reader)
    record = SessionRecord(id=new_session_id(), data={"step": 1}, user_id="u1")
    record.touch(60)
    try:
        await store.save(record)
        for _ in range(2):  # the first read also turns tracking on (see above)
            first = await store.load(record.id)
            assert first is not None and first.data == {"step": 1}
        before = _gets(redis_server)
        assert await store.load(record.id) is not None
        assert _gets(redis_server) == before, "the second read is served from this process"

        def other_process(action: str) -> None:
            subprocess.run(
                [sys.executable, "-c", _OTHER_PROCESS, redis_server.url, action, record.id],
                check=True,
                timeout=60,
            )

        await asyncio.to_thread(other_process, "save")

        async def step_two() -> bool:
            loaded = await store.load(record.id)
            return loaded is not None and loaded.data == {"step": 2}

        assert await _eventually(step_two), "the other process's save was not seen"
        await asyncio.to_thread(other_process, "delete")

        async def gone() -> bool:
            return await store.load(record.id) is None

        assert await _eventually(gone), "the other process's delete was not seen"
    finally:
        await close_client(client)


async def test_own_writes_are_read_back_at_once(
    reader: CachedReader, redis_server: RedisServer
) -> None:
    client = open_client(redis_server.url)
    store = RedisSessionStore(client, cached=reader)
    record = SessionRecord(id=new_session_id(), data={"n": 1}, user_id="u1")
    record.touch(60)
    try:
        for n in range(1, 20):
            record.data["n"] = n
            await store.save(record)
            loaded = await store.load(record.id)
            assert loaded is not None and loaded.data["n"] == n
        await store.delete(record.id)
        assert await store.load(record.id) is None
    finally:
        await close_client(client)


async def test_a_read_that_races_an_invalidation_is_not_kept(
    reader: CachedReader, redis_server: RedisServer
) -> None:
    _cli(redis_server, "set", "session:r", "one")
    await reader.get("warm up")
    pending = asyncio.create_task(reader.get("session:r"))
    await asyncio.sleep(0)  # the GET is on its way
    reader.cache.invalidate(b"something else")  # as if Redis had pushed an invalidation
    assert await pending == b"one"
    assert reader.cache.size == 0
    before = _gets(redis_server)
    assert await reader.get("session:r") == b"one"
    assert _gets(redis_server) == before + 1


async def test_the_cache_is_bounded(redis_server: RedisServer) -> None:
    cached = CachedReader.from_url(redis_server.url, cache_size=2)
    assert cached is not None
    try:
        await cached.get("warm up")
        for key in ("k1", "k2", "k3"):
            _cli(redis_server, "set", key, key)
            assert await cached.get(key) == key.encode()
        assert cached.cache.size == 2
        before = _gets(redis_server)
        await cached.get("k3")
        assert _gets(redis_server) == before
        await cached.get("k1")
        assert _gets(redis_server) == before + 1, "the oldest key was dropped"
    finally:
        await cached.close()


async def test_the_apps_reader_follows_the_session_cache_setting(
    settings_env: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    from vibetuner.config import reset_settings
    from vibetuner.data import _redis

    settings_env.setenv("REDIS_URL", redis_server.url)
    for size in ("0", "50"):
        settings_env.setenv("SESSION_CACHE_SIZE", size)
        reset_settings()
        await _redis.close_redis()
        reader = _redis.get_reader()
        assert (reader is not None) is (size != "0")
        if reader is not None:
            assert reader.cache.max_keys == 50
            _cli(redis_server, "set", "k", "v")
            assert await reader.get("k") == b"v"
    await _redis.close_redis()


@pytest.mark.parametrize(
    "url", ["unix:///run/redis.sock", "redis://cache/0?ssl_cert_reqs=none", "redis://cache/name"]
)
def test_urls_with_options_are_read_uncached(url: str) -> None:
    assert CachedReader.from_url(url, cache_size=10) is None


@pytest.fixture
def locked_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, password="s3cret pass")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_password_and_database_come_from_the_url(locked_server: RedisServer) -> None:
    port = locked_server.port
    _cli(locked_server, "-a", "s3cret pass", "-n", "3", "set", "k", "in db 3")
    url = f"redis://:s3cret%20pass@127.0.0.1:{port}/3"
    client = open_client(url)
    cached = CachedReader.from_url(url, cache_size=10)
    wrong = open_client(f"redis://:nope@127.0.0.1:{port}/3")
    assert cached is not None
    try:
        assert await client.get("k") == b"in db 3"
        assert await cached.get("k") == b"in db 3"
        with pytest.raises(RedisError):
            await wrong.get("k")
    finally:
        await close_client(client)
        await cached.close()
        await close_client(wrong)


async def test_a_refused_port_is_a_connection_error() -> None:
    client = open_client(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(RedisConnectionError):
            await client.get("k")
    finally:
        await close_client(client)


async def test_a_server_that_never_answers_fails_within_the_timeouts() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads commands, answers nothing
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = open_client(f"redis://127.0.0.1:{port}/0", command_timeout=0.3)
    started = time.monotonic()
    try:
        with pytest.raises((RedisConnectionError, TimeoutError)):
            await client.get("k")
        assert time.monotonic() - started < 15
    finally:
        await close_client(client)
        server.close()
        await server.wait_closed()


async def test_a_dropped_connection_is_reopened_on_the_next_call(
    redis_server: RedisServer,
) -> None:
    client = open_client(redis_server.url)
    try:
        assert await client.ping() == b"PONG"
        _cli(redis_server, "client", "kill", "type", "normal", "skipme", "yes")
        assert await client.ping() == b"PONG"
    finally:
        await close_client(client)


async def test_a_stopped_server_is_a_connection_error_even_for_cached_reads(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path)
    server.start()
    cached = CachedReader.from_url(server.url, cache_size=10)
    assert cached is not None
    try:
        _cli(server, "set", "session:d", "one")
        assert await cached.get("session:d") == b"one"
        assert await cached.get("session:d") == b"one"
        server.stop()

        async def refused() -> bool:
            try:
                await cached.get("session:d")
            except RedisConnectionError:
                return True
            return False

        assert await _eventually(refused), "a cached value outlived the server"
    finally:
        await cached.close()
