"""Serve an ASGI app on a free local port from a background thread, with embedded Granian.

The server owns its own event loop, so sync tests, async tests on any loop and a real
browser can all talk to it, and it never competes with the test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import secrets
import threading
import time
from types import TracebackType
from typing import Any, Self

from starlette.types import ASGIApp, Receive, Scope, Send

from vibetuner.server._net import free_port
from vibetuner.server._process import Started


class BackgroundServer(Started):
    """Run `app` on `host:port` in a daemon thread until `stop()`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        lifespan: bool = False,
    ) -> None:
        self.app = app
        self.lifespan = lifespan
        """Run the app's startup and shutdown (on the server's own loop) around serving."""
        self.host = host
        self.port = port or free_port(host)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._error: BaseException | None = None
        self._probe = f"/.vibetuner-ready-{secrets.token_hex(8)}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> str:
        """Start serving and block until the server answers; return the base URL."""
        if self.running:
            return self.url
        from granian.constants import Interfaces
        from granian.server.embed import Server

        self._error = None
        self._loop = asyncio.new_event_loop()
        self._server = Server(
            self._serve,
            address=self.host,
            port=self.port,
            interface=Interfaces.ASGI if self.lifespan else Interfaces.ASGINL,
            log_enabled=False,
        )
        self._thread = threading.Thread(
            target=self._run,
            args=(self._loop, self._server),
            name=f"vibetuner-idp-{self.port}",
            daemon=True,
        )
        self._thread.start()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self.url

    def _run(self, loop: asyncio.AbstractEventLoop, server: Any) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
        finally:
            loop.close()

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, plus a secret path that proves the port is ours and not a stranger's."""
        if scope["type"] == "http" and scope["path"] == self._probe:
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                reason = (str(self._error) or repr(self._error)).splitlines()[0]
                raise RuntimeError(f"The local server on port {self.port} exited: {reason}")
            connection = http.client.HTTPConnection(self.host, self.port, timeout=0.5)
            try:
                connection.request("GET", self._probe)
                if connection.getresponse().status == 204:
                    return
            except (OSError, http.client.HTTPException):
                pass  # not listening yet, or someone else's server on this port
            finally:
                connection.close()
            time.sleep(0.01)
        raise RuntimeError(f"The local server on port {self.port} did not start in {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to shut down and wait for its thread; safe to call twice."""
        thread, loop, server = self._thread, self._loop, self._server
        self._thread = self._loop = self._server = None
        if thread is None or loop is None:
            return
        if thread.is_alive():
            with contextlib.suppress(RuntimeError):  # a closed loop: the thread is exiting
                loop.call_soon_threadsafe(server.stop)
            thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"The local server on port {self.port} did not stop in {timeout} s")

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
