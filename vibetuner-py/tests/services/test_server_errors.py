"""Server errors shared across workers through a real redis-server, and what the console
shows when Redis is missing or down."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import RedisServer
from vibetuner.monitoring import ServerError, record_server_error
from vibetuner.monitoring import _recent_errors as ring
from vibetuner.services import server_errors
from vibetuner.services.server_errors import (
    KEY,
    RedisErrorLog,
    all_server_errors,
    share_server_error,
)


def _error(n: int, *, at: datetime | None = None) -> ServerError:
    return ServerError(
        at=at or datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
        request_id=f"req-{n}",
        method="POST",
        path=f"/things/{n}",
        exception="ZeroDivisionError",
        message=f"broke ünïcode {n}",
    )


@pytest.fixture(autouse=True)
def empty_ring() -> None:
    ring._ring.clear()


@pytest.fixture
async def shared(
    settings_env: pytest.MonkeyPatch, redis_server: RedisServer
) -> AsyncIterator[RedisErrorLog]:
    """REDIS_URL set, as in production; the log the process's client writes to."""
    from vibetuner.data._redis import close_redis, get_redis

    settings_env.setenv("REDIS_URL", redis_server.url)
    redis = get_redis()
    assert redis is not None
    try:
        yield RedisErrorLog(redis)
    finally:
        await close_redis()


async def test_the_list_keeps_the_newest_up_to_its_size_every_field_intact(
    shared: RedisErrorLog,
) -> None:
    small = RedisErrorLog(shared.redis, key="test:errors", size=5)
    for n in range(8):
        await small.add(_error(n))
    assert await small.recent() == [_error(n) for n in (7, 6, 5, 4, 3)]
    assert await shared.redis.llen("test:errors") == 5


async def test_an_entry_it_cannot_read_is_skipped(shared: RedisErrorLog) -> None:
    await shared.add(_error(1))
    naive = json.dumps({"at": "2026-01-01T00:00:00", "request_id": "r", "method": "GET",
                        "path": "/", "exception": "E", "message": "m"})  # fmt: skip
    await shared.redis.lpush(KEY, [b"not json", b'{"at": "yesterday"}', naive.encode()])
    assert await shared.recent() == [_error(1)]


async def test_the_console_shows_other_workers_errors_and_its_own_once(
    shared: RedisErrorLog,
) -> None:
    """Another worker's error is only in Redis; this worker's is in both, or only in its
    ring when its push failed."""
    other = _error(1)
    await shared.add(other)
    mine = record_server_error("req-mine", "GET", "/mine", ValueError("mine"))
    await share_server_error(mine)
    unshared = record_server_error("req-lost", "GET", "/lost", ValueError("push failed"))
    errors, everywhere = await all_server_errors()
    assert everywhere
    assert errors == [unshared, mine, other]


async def test_without_redis_the_console_shows_this_workers_ring(
    settings_env: pytest.MonkeyPatch,
) -> None:
    mine = record_server_error("req-mine", "GET", "/mine", ValueError("mine"))
    await share_server_error(mine)  # nowhere to share it: nothing happens
    assert await all_server_errors() == ([mine], True)


async def test_a_redis_that_is_down_neither_fails_the_500_nor_the_console(
    settings_env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vibetuner.data._redis import close_redis

    settings_env.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(server_errors, "TIMEOUT", 0.5)
    try:
        mine = record_server_error("req-mine", "GET", "/mine", ValueError("mine"))
        started = time.monotonic()
        await share_server_error(mine)
        assert await all_server_errors() == ([mine], False)
        assert time.monotonic() - started < 10, "bounded by the timeout, not hung"
    finally:
        await close_redis()


async def test_the_list_is_dropped_a_week_after_its_last_error(shared: RedisErrorLog) -> None:
    """Messages can quote what a user sent: they do not stay in Redis for good."""
    await shared.add(_error(1))
    ttl = await shared.redis.ttl(KEY)
    assert server_errors.KEEP_SECONDS - 60 < ttl <= server_errors.KEEP_SECONDS
