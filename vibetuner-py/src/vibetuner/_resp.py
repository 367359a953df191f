"""A lean Redis reader for the request path: one connection, commands pipelined.

Every signed-in request reads its session. redis-py spends more CPU per command than the
round trip itself (pool checkout, a timeout scope per read, retries, observability hooks).
This reader keeps one connection per event loop, buffers the commands issued in one loop
iteration into one write, and matches replies to callers in order, so under load many
session reads share a syscall. It speaks RESP2 and handles `redis://` and `rediss://` URLs
(with user, password and database); anything else keeps redis-py (`lean_url_ok`).
Connection failures and timeouts raise the builtin `ConnectionError` / `TimeoutError`,
which the session middleware answers with a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

Reply = bytes | int | str | list[Any] | None
DEFAULT_PORT = 6379


class ReplyError(Exception):
    """Redis answered a command with an error reply (`-ERR ...`)."""


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


def lean_url_ok(url: str) -> bool:
    return Target.from_url(url) is not None


def encode(*args: str | bytes | int) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class _Incomplete(Exception):
    pass


def parse(buffer: bytes | bytearray, start: int = 0) -> tuple[Reply | ReplyError, int]:
    """One RESP2 reply from `buffer` at `start`: (value, end); `_Incomplete` if cut short."""
    end = buffer.find(b"\r\n", start)
    if end < 0:
        raise _Incomplete
    kind, line = buffer[start : start + 1], bytes(buffer[start + 1 : end])
    after = end + 2
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            raise _Incomplete
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == b"+":
        return line.decode(), after
    if kind == b":":
        return int(line), after
    if kind == b"-":
        return ReplyError(line.decode(errors="replace")), after
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, after
        items: list[Any] = []
        for _ in range(count):
            item, after = parse(buffer, after)
            items.append(item)
        return items, after
    raise ConnectionError(f"Redis sent an unexpected reply type {kind!r}")


class _Protocol(asyncio.Protocol):
    """Replies are matched to waiters in the order the commands were written."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.waiters: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.outgoing: list[bytes] = []
        self.buffer = bytearray()
        self.lost: BaseException | None = None
        self.watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, command: bytes) -> asyncio.Future[Any]:
        if self.lost is not None or self.transport is None or self.transport.is_closing():
            raise ConnectionError(f"Redis connection lost: {self.lost}")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        if not self.outgoing:
            loop.call_soon(self._flush)
        self.outgoing.append(command)
        self.waiters.append((waiter, time.monotonic()))
        if self.watchdog is None:
            self.watchdog = loop.call_later(self.timeout, self._check_timeouts)
        return waiter

    def _flush(self) -> None:
        if self.outgoing and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.outgoing))
        self.outgoing.clear()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        position = 0
        try:
            while position < len(buffer) and self.waiters:
                value, position_after = parse(buffer, position)
                position = position_after
                waiter, _ = self.waiters.popleft()
                if not waiter.done():
                    if isinstance(value, ReplyError):
                        waiter.set_exception(value)
                    else:
                        waiter.set_result(value)
        except _Incomplete:
            pass
        except (ValueError, ConnectionError) as exc:
            self.fail(ConnectionError(f"Redis sent a reply this client cannot read: {exc}"))
            return
        del buffer[:position]

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
        while self.waiters:
            waiter, _ = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        if self.transport is not None:
            self.transport.abort()


class LeanRedis:
    """Hot-path reads over one pipelined connection per event loop; reconnects on demand."""

    def __init__(
        self, target: Target, *, connect_timeout: float = 2.0, timeout: float = 5.0
    ) -> None:
        self.target = target
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, **options: float) -> LeanRedis | None:
        target = Target.from_url(url)
        return cls(target, **options) if target is not None else None

    async def get(self, key: str | bytes) -> bytes | None:
        value = await self.execute_command("GET", key)
        return value if isinstance(value, bytes) else None

    async def execute_command(self, *args: str | bytes | int) -> Reply:
        protocol = self._protocol
        if (
            protocol is None
            or protocol.lost is not None
            or self._loop is not asyncio.get_running_loop()
        ):
            protocol = await self._connected()
        return await protocol.send(encode(*args))  # type: ignore[no-any-return]

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
                except TimeoutError:
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
            lambda: _Protocol(self.timeout), target.host, target.port, ssl=ssl
        )
        setup: list[asyncio.Future[Any]] = []
        if target.password is not None:
            auth = (target.username, target.password) if target.username else (target.password,)
            setup.append(protocol.send(encode("AUTH", *auth)))
        if target.db:
            setup.append(protocol.send(encode("SELECT", target.db)))
        outcomes = await asyncio.gather(*setup, return_exceptions=True)
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            error = ConnectionError(f"Redis refused the connection setup: {failure}")
            protocol.fail(error)
            raise error from failure
        return protocol

    async def close(self) -> None:
        protocol, loop = self._protocol, self._loop
        self._protocol, self._loop = None, None
        transport = protocol.transport if protocol is not None else None
        if transport is not None and loop is asyncio.get_running_loop():
            transport.close()
