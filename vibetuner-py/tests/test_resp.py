"""The lean session reader: RESP parsing, and a real redis-server for everything else."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import RedisServer
from vibetuner._resp import LeanRedis, ReplyError, Target, encode, parse
from vibetuner.embedded import free_port


def test_encode_is_a_resp_array_of_bulk_strings() -> None:
    assert encode("GET", "k") == b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    assert encode("SELECT", 3, b"\xff") == b"*3\r\n$6\r\nSELECT\r\n$1\r\n3\r\n$1\r\n\xff\r\n"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"$5\r\nhello\r\n", b"hello"),
        (b"$0\r\n\r\n", b""),
        (b"$-1\r\n", None),
        (b"+OK\r\n", "OK"),
        (b":42\r\n", 42),
        (b"*2\r\n$1\r\na\r\n:1\r\n", [b"a", 1]),
        (b"*-1\r\n", None),
        (b"$4\r\na\r\nb\r\n", b"a\r\nb"),
    ],
)
def test_replies_are_parsed(raw: bytes, value: object) -> None:
    assert parse(raw) == (value, len(raw))


def test_an_error_reply_is_returned_as_a_reply_error() -> None:
    error, end = parse(b"-ERR wrong\r\n")
    assert isinstance(error, ReplyError) and str(error) == "ERR wrong" and end == 12


@pytest.mark.parametrize("cut", [1, 3, 5, 8])
def test_a_reply_cut_short_is_not_parsed(cut: int) -> None:
    from vibetuner._resp import _Incomplete

    with pytest.raises(_Incomplete):
        parse(b"$5\r\nhello\r\n"[:cut])


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("redis://127.0.0.1:7000/2", Target("127.0.0.1", 7000, 2)),
        ("redis://cache", Target("cache", 6379)),
        ("redis://:s%40cret@cache/0", Target("cache", 6379, 0, None, "s@cret")),
        ("redis://app:pw@cache:6380/1", Target("cache", 6380, 1, "app", "pw")),
        ("rediss://cache.example:6380", Target("cache.example", 6380, tls=True)),
    ],
)
def test_plain_urls_are_read(url: str, target: Target) -> None:
    assert Target.from_url(url) == target


@pytest.mark.parametrize(
    "url",
    [
        "unix:///run/redis.sock",
        "redis://cache/0?socket_timeout=1",
        "redis+sentinel://cache",
        "redis://cache/name",
        "redis://cache:notaport",
    ],
)
def test_urls_with_options_keep_redis_py(url: str) -> None:
    assert Target.from_url(url) is None
    assert LeanRedis.from_url(url) is None


@pytest.fixture
async def lean(redis_server: RedisServer) -> AsyncIterator[LeanRedis]:
    client = LeanRedis.from_url(redis_server.url)
    assert client is not None
    yield client
    await client.close()


def _cli(server: RedisServer, *args: str) -> str:
    done = subprocess.run(
        ["redis-cli", "-p", str(server.port), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


async def test_get_reads_what_redis_holds(lean: LeanRedis, redis_server: RedisServer) -> None:
    _cli(redis_server, "set", "greeting", "hola")
    assert await lean.get("greeting") == b"hola"
    assert await lean.get("missing") is None


async def test_concurrent_commands_share_one_connection_and_get_their_own_replies(
    lean: LeanRedis, redis_server: RedisServer
) -> None:
    for n in range(50):
        _cli(redis_server, "set", f"k{n}", f"v{n}" * n)
    values = await asyncio.gather(*(lean.get(f"k{n}") for n in range(50)))
    assert values == [f"v{n}".encode() * n for n in range(50)]
    clients = _cli(redis_server, "client", "list")
    assert clients.count("cmd=") == 2  # the reader and redis-cli itself


async def test_a_big_value_arriving_in_pieces_is_read_whole(
    lean: LeanRedis, redis_server: RedisServer
) -> None:
    big = "x" * 300_000
    assert await lean.execute_command("SET", "big", big) == "OK"
    assert await lean.get("big") == big.encode()


async def test_an_error_reply_raises_without_breaking_the_connection(lean: LeanRedis) -> None:
    with pytest.raises(ReplyError, match="unknown command"):
        await lean.execute_command("NOSUCHCOMMAND")
    assert await lean.execute_command("PING") == "PONG"


async def test_a_dropped_connection_is_reopened_on_the_next_call(
    lean: LeanRedis, redis_server: RedisServer
) -> None:
    assert await lean.execute_command("PING") == "PONG"
    _cli(redis_server, "client", "kill", "type", "normal", "skipme", "yes")
    await asyncio.sleep(0.05)
    assert await lean.execute_command("PING") == "PONG"


async def test_a_stopped_server_is_a_connection_error(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    client = LeanRedis.from_url(server.url, connect_timeout=1, timeout=2)
    assert client is not None
    assert await client.execute_command("PING") == "PONG"
    server.stop()
    try:
        with pytest.raises(ConnectionError):
            await client.get("anything")
        with pytest.raises(ConnectionError, match="Cannot connect"):
            await client.get("anything")
    finally:
        await client.close()


async def test_a_server_that_never_answers_is_a_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads commands, answers nothing
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = LeanRedis(Target("127.0.0.1", port), timeout=0.3)
    try:
        with pytest.raises(TimeoutError, match="did not answer"):
            await client.get("k")
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


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
    client = LeanRedis.from_url(f"redis://:s3cret%20pass@127.0.0.1:{port}/3")
    wrong = LeanRedis.from_url(f"redis://:nope@127.0.0.1:{port}/3")
    assert client is not None and wrong is not None
    try:
        assert await client.get("k") == b"in db 3"
        with pytest.raises(ConnectionError, match="refused the connection setup"):
            await wrong.get("k")
    finally:
        await client.close()
        await wrong.close()


async def test_refused_port_is_a_connection_error() -> None:
    client = LeanRedis(Target("127.0.0.1", free_port()), connect_timeout=1)
    with pytest.raises(ConnectionError, match=r"Cannot connect to Redis at 127\.0\.0\.1"):
        await client.get("k")


def test_each_event_loop_gets_its_own_connection(redis_server: RedisServer) -> None:
    client = LeanRedis.from_url(redis_server.url)
    assert client is not None
    _cli(redis_server, "set", "k", "v")
    assert asyncio.run(client.get("k")) == b"v"
    assert asyncio.run(client.get("k")) == b"v"  # the first loop's socket is not reused
    asyncio.run(client.close())


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"_\r\n", None),
        (b"#t\r\n", True),
        (b",1.5\r\n", 1.5),
        (b"(12345678901234567890\r\n", 12345678901234567890),
        (b"=8\r\ntxt:hola\r\n", b"hola"),
        (b"%1\r\n+server\r\n+redis\r\n", {"server": "redis"}),
        (b"~2\r\n:1\r\n:2\r\n", [1, 2]),
        (b"|1\r\n+ttl\r\n:3\r\n$2\r\nok\r\n", b"ok"),
    ],
)
def test_resp3_replies_are_parsed(raw: bytes, value: object) -> None:
    assert parse(raw) == (value, len(raw))


def test_pushes_and_blob_errors_are_told_apart() -> None:
    from vibetuner._resp import Push

    push, _ = parse(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n")
    assert isinstance(push, Push) and push == [b"invalidate", [b"k"]]
    error, _ = parse(b"!9\r\nERR nope!\r\n")
    assert isinstance(error, ReplyError) and str(error) == "ERR nope!"


def _gets(server: RedisServer) -> int:
    stats = _cli(server, "info", "commandstats")
    for line in stats.splitlines():
        if line.startswith("cmdstat_get:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


async def test_a_value_read_twice_is_served_from_the_process(
    lean: LeanRedis, redis_server: RedisServer
) -> None:
    _cli(redis_server, "set", "session:a", "one")
    assert await lean.get("session:a") == b"one"
    assert lean.caching, "redis-server 6+ speaks RESP3 and tracks keys"
    before = _gets(redis_server)
    assert [await lean.get("session:a") for _ in range(5)] == [b"one"] * 5
    assert _gets(redis_server) == before


async def test_a_change_by_another_client_is_seen_on_the_next_read(
    lean: LeanRedis, redis_server: RedisServer
) -> None:
    _cli(redis_server, "set", "session:b", "one")
    assert await lean.get("session:b") == b"one"
    _cli(redis_server, "set", "session:b", "two")  # Redis pushes an invalidation to the reader
    assert await lean.get("session:b") == b"two"
    _cli(redis_server, "del", "session:b")
    assert await lean.get("session:b") is None
    _cli(redis_server, "set", "session:b", "three")
    assert await lean.get("session:b") == b"three"
    _cli(redis_server, "flushall")
    assert await lean.get("session:b") is None


async def test_forget_drops_what_this_process_just_wrote(redis_server: RedisServer) -> None:
    lean = LeanRedis.from_url(redis_server.url)
    assert lean is not None
    try:
        _cli(redis_server, "set", "session:c", "one")
        assert await lean.get("session:c") == b"one"
        before = _gets(redis_server)
        lean.forget("session:c")
        assert await lean.get("session:c") == b"one"
        assert _gets(redis_server) == before + 1, "a forgotten key is read from Redis again"
    finally:
        await lean.close()


async def test_cached_values_age_out_and_the_cache_is_bounded(redis_server: RedisServer) -> None:
    lean = LeanRedis.from_url(redis_server.url, cache_size=2, cache_ttl=0.2)
    assert lean is not None
    try:
        for key in ("k1", "k2", "k3"):
            _cli(redis_server, "set", key, key)
            assert await lean.get(key) == key.encode()
        assert lean._protocol is not None and list(lean._protocol.cache) == [b"k2", b"k3"]
        before = _gets(redis_server)
        await lean.get("k3")
        assert _gets(redis_server) == before
        await asyncio.sleep(0.25)
        await lean.get("k3")
        assert _gets(redis_server) == before + 1, "an entry older than cache_ttl is re-read"
    finally:
        await lean.close()


async def test_caching_can_be_turned_off(redis_server: RedisServer) -> None:
    lean = LeanRedis.from_url(redis_server.url, cache_size=0)
    assert lean is not None
    try:
        _cli(redis_server, "set", "k", "v")
        before = _gets(redis_server)
        assert [await lean.get("k") for _ in range(3)] == [b"v"] * 3
        assert not lean.caching and _gets(redis_server) == before + 3
    finally:
        await lean.close()


async def test_a_cached_value_is_not_served_once_the_server_is_gone(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    lean = LeanRedis.from_url(server.url, connect_timeout=1)
    assert lean is not None
    try:
        _cli(server, "set", "session:d", "one")
        assert await lean.get("session:d") == b"one"
        assert await lean.get("session:d") == b"one"
        server.stop()
        with pytest.raises(ConnectionError):
            await lean.get("session:d")
    finally:
        await lean.close()


async def test_the_apps_reader_follows_the_session_cache_setting(
    settings_env: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    from vibetuner import _redis
    from vibetuner.config import reset_settings

    settings_env.setenv("REDIS_URL", redis_server.url)
    for size, caching in (("0", False), ("50", True)):
        settings_env.setenv("SESSION_CACHE_SIZE", size)
        reset_settings()
        await _redis.close_redis()
        reader = _redis.get_reader()
        assert reader is not None and reader.cache_size == int(size)
        _cli(redis_server, "set", "k", "v")
        assert await reader.get("k") == b"v"
        assert reader.caching is caching
    await _redis.close_redis()
