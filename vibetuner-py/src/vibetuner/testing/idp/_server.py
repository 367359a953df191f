"""Serve an app on a free local port from a background thread: ASGI under embedded Granian,
WSGI (the mock OpenID provider is a Flask app) under werkzeug's threaded server.

The server owns its thread (and event loop), so sync tests, async tests on any loop and a real
browser can all talk to it, and it never competes with the test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import secrets
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from starlette.types import ASGIApp, Receive, Scope, Send

from vibetuner.server._net import free_port
from vibetuner.server._process import Started

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from werkzeug.serving import BaseWSGIServer


class ThreadedServer(Started):
    """Serve on `host:port` from a daemon thread until `stop()`; subclasses say how."""

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

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
        self._error = None
        self._thread = threading.Thread(
            target=self._run, args=(self._listen(),), name=f"vibetuner-idp-{self.port}", daemon=True
        )
        self._thread.start()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self.url

    def _listen(self) -> Callable[[], None]:
        """Set the server up; return what the thread runs to serve until `_halt()`."""
        raise NotImplementedError

    def _halt(self) -> None:
        """Ask the serving thread to return; called from another thread."""
        raise NotImplementedError

    def _wait_ready(self, timeout: float) -> None:
        """Block until the server answers; by default it already listens when started."""

    def _run(self, serve: Callable[[], None]) -> None:
        try:
            serve()
        except BaseException as exc:  # reported to the starting thread
            self._error = exc

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to shut down and wait for its thread; safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if thread.is_alive():
            self._halt()
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


class BackgroundServer(ThreadedServer):
    """Run the ASGI `app` under embedded Granian, on its own event loop."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        lifespan: bool = False,
    ) -> None:
        super().__init__(host=host, port=port)
        self.app = app
        self.lifespan = lifespan
        """Run the app's startup and shutdown (on the server's own loop) around serving."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._probe = f"/.vibetuner-ready-{secrets.token_hex(8)}"

    def _listen(self) -> Callable[[], None]:
        from granian.constants import Interfaces  # granian: only when the provider runs
        from granian.server.embed import Server

        loop = self._loop = asyncio.new_event_loop()
        server = self._server = Server(
            self._serve,
            address=self.host,
            port=self.port,
            interface=Interfaces.ASGI if self.lifespan else Interfaces.ASGINL,
            log_enabled=False,
        )

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(server.serve())
            finally:
                loop.close()

        return serve

    def _halt(self) -> None:
        loop, server = self._loop, self._server
        self._loop = self._server = None
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: the thread is exiting
                loop.call_soon_threadsafe(server.stop)

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


class BackgroundWSGIServer(ThreadedServer):
    """Run the WSGI `app` under werkzeug's threaded server (a thread per request)."""

    def __init__(
        self, app: WSGIApplication, *, host: str = "127.0.0.1", port: int | None = None
    ) -> None:
        super().__init__(host=host, port=port)
        self.app = app
        self._wsgi: BaseWSGIServer | None = None

    def _listen(self) -> Callable[[], None]:
        from werkzeug.serving import (  # werkzeug (oidc_provider_mock's): testing extra
            WSGIRequestHandler,
            make_server,
        )

        class Quiet(WSGIRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                """Tests read responses, not an access log on stderr."""

        try:
            server = self._wsgi = make_server(
                self.host, self.port, self.app, threaded=True, request_handler=Quiet
            )
        except (OSError, SystemExit) as exc:  # werkzeug says why on stderr, then exits
            message = f"The local server cannot listen on port {self.port}: is it taken?"
            raise RuntimeError(message) from exc

        def serve() -> None:
            try:
                server.serve_forever(poll_interval=0.05)
            finally:
                server.server_close()

        return serve

    def _halt(self) -> None:
        server, self._wsgi = self._wsgi, None
        if server is not None:
            server.shutdown()
