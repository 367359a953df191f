"""A lean Redis reader for the request path: one connection, commands pipelined, and
values cached in the process under Redis's own invalidation.

Every signed-in request reads its session. redis-py spends more CPU per command than the
round trip itself (pool checkout, a timeout scope per read, retries, observability hooks).
This reader keeps one connection per event loop, buffers the commands issued in one loop
iteration into one write, and matches replies to callers in order.

With Redis 6+ it also turns on client-side caching (RESP3 `CLIENT TRACKING`): a value read
once is kept in memory, and Redis pushes an invalidation on the same connection as soon as
any client changes or deletes the key. A cached value is served only while nothing unread
waits on the socket (an invalidation, or the server closing) and for at most `cache_ttl`
seconds; losing the connection empties the cache. Writes made through this process call
`forget`, so the process always reads its own writes.

It handles `redis://` and `rediss://` URLs (with user, password and database); anything
else keeps redis-py (`Target.from_url` is None). Connection failures and timeouts raise the builtin
`ConnectionError` / `TimeoutError`, which the session middleware answers with a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

Reply = bytes | int | float | str | list[Any] | dict[Any, Any] | None
DEFAULT_PORT = 6379


class ReplyError(Exception):
    """Redis answered a command with an error reply (`-ERR ...`)."""


class SetupRefused(ConnectionError):
    """Redis refused the connection's setup (wrong password, unknown database)."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> Target | None:
        """The address in a plain `redis://` or `rediss://` URL, else None (use redis-py)."""
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or parts.query or not parts.hostname:
            return None
        path = parts.path.strip("/")
        if path and not path.isdigit():
            return None
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            return None
        return cls(
            host=parts.hostname,
            port=port,
            db=int(path or 0),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            tls=parts.scheme == "rediss",
        )


def encode(*args: str | bytes | int) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class Push(list[Any]):
    """An out-of-band RESP3 push message, such as `["invalidate", [keys]]`."""


class _Incomplete(Exception):
    pass


_AGGREGATES = {b"*": list, b"~": list, b">": Push}


def parse(buffer: bytes | bytearray, start: int = 0) -> tuple[Reply | ReplyError, int]:
    """One RESP2/RESP3 reply from `buffer` at `start`: (value, end); `_Incomplete` if the
    buffer ends first. Maps become dicts, sets lists, pushes `Push`; attributes are skipped."""
    end = buffer.find(b"\r\n", start)
    if end < 0:
        raise _Incomplete
    kind, line = bytes(buffer[start : start + 1]), bytes(buffer[start + 1 : end])
    after = end + 2
    if kind in (b"$", b"=", b"!"):
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            raise _Incomplete
        blob = bytes(buffer[after : after + size])
        if kind == b"!":
            return ReplyError(blob.decode(errors="replace")), after + size + 2
        return (blob[4:] if kind == b"=" else blob), after + size + 2
    if kind == b"+":
        return line.decode(), after
    if kind in (b":", b"("):
        return int(line), after
    if kind == b"-":
        return ReplyError(line.decode(errors="replace")), after
    if kind == b"_":
        return None, after
    if kind == b"#":
        return line == b"t", after
    if kind == b",":
        return float(line), after
    if kind in _AGGREGATES or kind in (b"%", b"|"):
        count = int(line)
        if count < 0:
            return None, after
        items: list[Any] = []
        for _ in range(count * (2 if kind in (b"%", b"|") else 1)):
            item, after = parse(buffer, after)
            items.append(item)
        if kind == b"|":  # attributes describe the reply that follows: skip them
            return parse(buffer, after)
        if kind == b"%":
            return dict(zip(items[::2], items[1::2], strict=True)), after
        return _AGGREGATES[kind](items), after
    raise ConnectionError(f"Redis sent an unexpected reply type {kind!r}")


class _Protocol(asyncio.Protocol):
    """Replies are matched to waiters in the order the commands were written; pushes
    (invalidations) are handled as they arrive, in stream order with the replies."""

    def __init__(self, timeout: float, cache_size: int, cache_ttl: float) -> None:
        self.timeout = timeout
        self.cache_size = cache_size
        self.cache_ttl = cache_ttl
        self.transport: asyncio.Transport | None = None
        self.fd = -1
        self.waiters: deque[tuple[asyncio.Future[Any], float, bytes | None]] = deque()
        self.outgoing: list[bytes] = []
        self.buffer = bytearray()
        self.lost: BaseException | None = None
        self.watchdog: asyncio.TimerHandle | None = None
        self.tracking = False
        self.cache: dict[bytes, tuple[bytes, float]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1

    def send(self, command: bytes, cache_key: bytes | None = None) -> asyncio.Future[Any]:
        if self.lost is not None or self.transport is None or self.transport.is_closing():
            raise ConnectionError(f"Redis connection lost: {self.lost}")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        if not self.outgoing:
            loop.call_soon(self._flush)
        self.outgoing.append(command)
        self.waiters.append((waiter, time.monotonic(), cache_key))
        if self.watchdog is None:
            self.watchdog = loop.call_later(self.timeout, self._check_timeouts)
        return waiter

    def _flush(self) -> None:
        if self.outgoing and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.outgoing))
        self.outgoing.clear()

    def cached(self, key: bytes) -> bytes | None:
        """The cached value, unless it is old or something unread waits on the socket."""
        entry = self.cache.get(key)
        if entry is None or time.monotonic() - entry[1] > self.cache_ttl:
            return None
        if self.fd < 0 or select.select([self.fd], [], [], 0)[0]:
            return None  # an invalidation or a close may be waiting: ask Redis
        return entry[0]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        position = 0
        try:
            while position < len(buffer):
                value, position = parse(buffer, position)
                if isinstance(value, Push):
                    self._pushed(value)
                    continue
                if not self.waiters:
                    raise ConnectionError("a reply nobody asked for")
                waiter, _, cache_key = self.waiters.popleft()
                if isinstance(value, ReplyError):
                    if not waiter.done():
                        waiter.set_exception(value)
                    continue
                if cache_key is not None and self.tracking and isinstance(value, bytes):
                    self._remember(cache_key, value)
                if not waiter.done():
                    waiter.set_result(value)
        except _Incomplete:
            pass
        except (ValueError, ConnectionError) as exc:
            self.fail(ConnectionError(f"Redis sent a reply this client cannot read: {exc}"))
            return
        del buffer[:position]

    def _remember(self, key: bytes, value: bytes) -> None:
        cache = self.cache
        cache.pop(key, None)
        if len(cache) >= self.cache_size:
            del cache[next(iter(cache))]  # the oldest entry
        cache[key] = (value, time.monotonic())

    def _pushed(self, message: Push) -> None:
        if len(message) == 2 and message[0] in (b"invalidate", "invalidate"):
            keys = message[1]
            if keys is None:  # FLUSHALL / FLUSHDB, or the server dropped its table
                self.cache.clear()
            else:
                for key in keys:
                    self.cache.pop(key, None)

    def _check_timeouts(self) -> None:
        self.watchdog = None
        if not self.waiters:
            return
        oldest = self.waiters[0][1]
        waited = time.monotonic() - oldest
        if waited >= self.timeout:
            self.fail(TimeoutError(f"Redis did not answer within {self.timeout:g} s"))
            return
        loop = asyncio.get_running_loop()
        self.watchdog = loop.call_later(self.timeout - waited, self._check_timeouts)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(ConnectionError(f"Redis closed the connection: {exc or 'EOF'}"))

    def fail(self, error: BaseException) -> None:
        self.lost = self.lost or error
        self.tracking = False
        self.cache.clear()  # invalidations may have been missed
        while self.waiters:
            waiter = self.waiters.popleft()[0]
            if not waiter.done():
                waiter.set_exception(error)
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        if self.transport is not None:
            self.transport.abort()


class LeanRedis:
    """Hot-path reads over one pipelined connection per event loop; reconnects on demand.

    `cache_size=0` turns client-side caching off; it is also off when the server does not
    speak RESP3 or refuses `CLIENT TRACKING`.
    """

    def __init__(
        self,
        target: Target,
        *,
        connect_timeout: float = 2.0,
        timeout: float = 5.0,
        cache_size: int = 10_000,
        cache_ttl: float = 30.0,
    ) -> None:
        self.target = target
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.cache_size = cache_size
        self.cache_ttl = cache_ttl
        self._protocol: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> LeanRedis | None:
        target = Target.from_url(url)
        return cls(target, **options) if target is not None else None

    @property
    def caching(self) -> bool:
        """Whether the current connection has client-side caching on."""
        return self._protocol is not None and self._protocol.tracking

    async def get(self, key: str | bytes) -> bytes | None:
        raw = key.encode() if isinstance(key, str) else key
        protocol = self._protocol
        if protocol is not None and protocol.tracking and self._loop is asyncio.get_running_loop():
            hit = protocol.cached(raw)
            if hit is not None:
                return hit
        value = await self.execute_command("GET", raw, cache_key=raw)
        return value if isinstance(value, bytes) else None

    def forget(self, *keys: str | bytes) -> None:
        """Drop cached values this process has just changed (read your own writes)."""
        protocol = self._protocol
        if protocol is not None:
            for key in keys:
                protocol.cache.pop(key.encode() if isinstance(key, str) else key, None)

    async def execute_command(
        self, *args: str | bytes | int, cache_key: bytes | None = None
    ) -> Reply:
        protocol = self._protocol
        if (
            protocol is None
            or protocol.lost is not None
            or self._loop is not asyncio.get_running_loop()
        ):
            protocol = await self._connected()
        return await protocol.send(encode(*args), cache_key)  # type: ignore[no-any-return]

    async def _connected(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): the old socket is not ours
            old, self._protocol, self._lock, self._loop = self._protocol, None, asyncio.Lock(), loop
            if old is not None and old.transport is not None and not old.transport.is_closing():
                with contextlib.suppress(RuntimeError):  # its loop may be closed already
                    old.transport.abort()
        async with self._lock:
            protocol = self._protocol
            if protocol is None or protocol.lost is not None:
                try:
                    protocol = await asyncio.wait_for(self._open(loop), self.connect_timeout)
                except (TimeoutError, SetupRefused):
                    raise
                except OSError as exc:  # refused, unreachable, TLS failure
                    where = f"{self.target.host}:{self.target.port}"
                    raise ConnectionError(f"Cannot connect to Redis at {where}: {exc}") from exc
                self._protocol = protocol
            return protocol

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        target = self.target
        ssl: Any = None
        if target.tls:
            import ssl as ssl_module

            ssl = ssl_module.create_default_context()
        _, protocol = await loop.create_connection(
            lambda: _Protocol(self.timeout, self.cache_size, self.cache_ttl),
            target.host,
            target.port,
            ssl=ssl,
        )
        try:
            resp3 = self.cache_size > 0 and await self._hello(protocol)
            setup: list[tuple[str | int, ...]] = []
            if not resp3 and target.password is not None:  # RESP2 servers may predate ACL users
                user = (target.username,) if target.username else ()
                setup.append(("AUTH", *user, target.password))
            if target.db:
                setup.append(("SELECT", target.db))
            await _all(protocol, setup)
            if resp3:
                protocol.tracking = await _all(protocol, [("CLIENT", "TRACKING", "ON")], True)
        except TimeoutError as exc:
            protocol.fail(exc)
            raise
        except BaseException as exc:
            error = SetupRefused(f"Redis refused the connection setup: {exc}")
            protocol.fail(error)
            raise error from exc
        return protocol

    async def _hello(self, protocol: _Protocol) -> bool:
        """Switch the connection to RESP3 (authenticating in the same step); False when the
        server only speaks RESP2."""
        target = self.target
        user = target.username or "default"
        auth = ("AUTH", user, target.password) if target.password is not None else ()
        try:
            await protocol.send(encode("HELLO", 3, *auth))
        except ReplyError as exc:
            if str(exc).startswith(("ERR unknown command", "NOPROTO")):
                return False
            raise
        return True

    async def close(self) -> None:
        protocol, loop = self._protocol, self._loop
        self._protocol, self._loop = None, None
        transport = protocol.transport if protocol is not None else None
        if transport is not None and loop is asyncio.get_running_loop():
            transport.close()


async def _all(
    protocol: _Protocol, commands: list[tuple[str | int, ...]], optional: bool = False
) -> bool:
    """Run setup commands together; a refusal raises, or gives False when `optional`."""
    outcomes = await asyncio.gather(
        *(protocol.send(encode(*command)) for command in commands), return_exceptions=True
    )
    failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
    if failure is not None and not (optional and isinstance(failure, ReplyError)):
        raise failure
    return failure is None
