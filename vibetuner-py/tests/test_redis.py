"""The process's Redis clients on a real redis-server: URLs, timeouts and outages."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from coredis.exceptions import ConnectionError as RedisConnectionError
from coredis.exceptions import RedisError

from tests.conftest import RedisServer
from vibetuner.data._redis_clients import close_client, open_client
from vibetuner.server._net import free_port


def _cli(server: RedisServer, *args: str) -> str:
    done = subprocess.run(
        ["redis-cli", "-p", str(server.port), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


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
    wrong = open_client(f"redis://:nope@127.0.0.1:{port}/3")
    try:
        assert await client.get("k") == b"in db 3"
        with pytest.raises(RedisError):
            await wrong.get("k")
    finally:
        await close_client(client)
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


async def test_a_stopped_server_is_a_connection_error(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    client = open_client(server.url)
    try:
        _cli(server, "set", "session:d", "one")
        assert await client.get("session:d") == b"one"
        server.stop()
        with pytest.raises(RedisConnectionError):
            await client.get("session:d")
    finally:
        await close_client(client)


async def test_reads_in_the_same_turn_share_one_round_trip(redis_server: RedisServer) -> None:
    from vibetuner.data._redis_clients import BatchedReader

    client = open_client(redis_server.url)
    reader = BatchedReader(client)
    try:
        await client.mset({"a": "1", "b": "2"})
        await reader.get("a")  # connected
        before = _cli(redis_server, "info", "commandstats")
        values = await asyncio.gather(*(reader.get(key) for key in ["a", "b", "a", "zz"] * 5))
        assert values == [b"1", b"2", b"1", None] * 5
        after = _cli(redis_server, "info", "commandstats")
        assert _calls(after, "mget") == _calls(before, "mget") + 1
        assert _calls(after, "get") == _calls(before, "get")
        await client.set("a", "changed")
        assert await reader.get("a") == b"changed", "a read after a write sees it"
    finally:
        await close_client(client)


async def test_a_batch_that_fails_fails_every_reader(tmp_path: Path) -> None:
    from vibetuner.data._redis_clients import BatchedReader

    server = RedisServer(tmp_path)
    server.start()
    client = open_client(server.url)
    reader = BatchedReader(client)
    try:
        assert await reader.get("k") is None
        server.stop()
        results = await asyncio.gather(reader.get("k"), reader.get("j"), return_exceptions=True)
        assert all(isinstance(result, RedisConnectionError) for result in results), results
    finally:
        await close_client(client)


def _calls(stats: str, command: str) -> int:
    for line in stats.splitlines():
        if line.startswith(f"cmdstat_{command}:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


async def test_probes_that_time_out_while_redis_hangs_leave_the_client_usable(
    settings_env: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    """Readiness probes give up on a Redis that hangs (here: stopped with SIGSTOP) before
    their connections open. Cancelled there, coredis 6.9 keeps each pool place for good, and
    once 64 were gone the client hung after Redis came back; the probes now leave them be."""
    import os
    import signal

    from vibetuner.data._redis import close_redis, ping_redis

    settings_env.setenv("REDIS_URL", redis_server.url)
    assert redis_server.process is not None
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        assert await asyncio.gather(*(ping_redis(0.3) for _ in range(70))) == [False] * 70
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    try:
        assert await ping_redis(10)
    finally:
        await close_redis()
