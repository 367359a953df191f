"""The process's Redis clients, created on first use when REDIS_URL is set.

coredis is imported only here, on first use, so apps without Redis never load it (see
`_redis_clients` for how the clients work).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vibetuner.config import get_settings, redact_url
from vibetuner.exceptions import DatabaseUnavailable
from vibetuner.server._waits import wait_at_most

if TYPE_CHECKING:
    from coredis import Redis

_client: Redis[bytes] | None = None


def get_redis() -> Redis[bytes] | None:
    """The shared client, or None when REDIS_URL is not configured."""
    global _client
    if _client is None:
        url = get_settings().redis_url
        if not url:
            return None
        from vibetuner.data._redis_clients import open_client  # coredis: only in apps with Redis
        from vibetuner.monitoring import metrics_enabled

        _client = open_client(url)
        if metrics_enabled(get_settings()):
            from vibetuner.monitoring import instrument_redis  # prometheus_client: metrics on

            _client = instrument_redis(_client)
    return _client


async def ping_redis(timeout_s: float = 2.0) -> bool:
    client = get_redis()
    if client is None:
        return False
    try:
        return bool(await wait_at_most(client.ping(), timeout_s))
    except Exception:
        return False


def check_redis_reachable(url: str, timeout_s: float = 2.0) -> None:
    """Fail fast, before any server starts, when REDIS_URL does not answer PING."""
    from coredis import Redis  # coredis: only in apps with Redis
    from coredis.exceptions import RedisError

    from vibetuner.data._redis_clients import run_sync  # coredis: only in apps with Redis

    async def ping() -> None:
        async with Redis.from_url(
            url, decode_components=True, connect_timeout=timeout_s, stream_timeout=timeout_s
        ) as client:
            await client.ping()

    try:
        run_sync(ping())
    except Exception as exc:
        cause: BaseException = exc
        while isinstance(cause, BaseExceptionGroup):  # coredis fails inside a task group
            cause = cause.exceptions[0]
        if not isinstance(cause, (RedisError, TimeoutError, OSError)):
            raise
        raise DatabaseUnavailable(
            f"Cannot reach Redis at REDIS_URL={redact_url(url)}: {cause or type(cause).__name__}",
            fix="Start Redis there, or fix REDIS_URL.",
        ) from exc


async def close_redis() -> None:
    global _client
    client, _client = _client, None
    if client is not None:
        from vibetuner.data._redis_clients import close_client  # coredis: apps with Redis

        await close_client(client)
