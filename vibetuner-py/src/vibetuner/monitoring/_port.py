"""/metrics on a port of its own (METRICS_PORT), for orchestrators: their Service and Ingress
expose the app's port only, and a NetworkPolicy decides who reaches this one.

The scrape is answered from a thread by the standard library's WSGI server, with the same
access rules as the app's /metrics (METRICS_TOKEN, METRICS_ALLOW). With several Granian
workers in one server, the first to start listens and answers (the others find the port
taken and leave it to that one): run one worker per container, as deploy/k8s does.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from vibetuner.config import Settings
from vibetuner.monitoring._endpoint import access_status, metrics_enabled

logger = logging.getLogger("vibetuner.monitoring")

REFRESH_SECONDS = 3.0
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _QuietHandler(WSGIRequestHandler):
    """No access line per scrape on stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        return


def _status(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def _scrape(settings: Settings, loop: asyncio.AbstractEventLoop) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        plain = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]
        if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") != "GET":
            start_response(_status(404), plain)
            return [b"Not Found: this port serves GET /metrics only\n"]
        headers = [(key[5:].replace("_", "-").lower().encode("latin-1"), str(value).encode())
                   for key, value in environ.items() if key.startswith("HTTP_")]  # fmt: skip
        refused = access_status(settings, environ.get("REMOTE_ADDR"), headers)
        if refused is not None:
            extra = [("WWW-Authenticate", 'Bearer realm="metrics"')] if refused == 401 else []
            start_response(_status(refused), plain + extra)
            return [HTTPStatus(refused).phrase.encode() + b"\n"]
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # on scrape only

        from vibetuner.monitoring._registry import REGISTRY, refresh_sources  # prometheus_client

        try:  # the gauges read at scrape time are read on the app's own event loop
            asyncio.run_coroutine_threadsafe(refresh_sources(), loop).result(REFRESH_SECONDS)
        except Exception:
            logger.warning("metrics sources did not refresh in time; serving the last values")
        body = generate_latest(REGISTRY)
        start_response(_status(200), [("Content-Type", CONTENT_TYPE_LATEST),
                                      ("Cache-Control", "no-store")])  # fmt: skip
        return [body]

    return app


def serve_metrics_port(
    settings: Settings, loop: asyncio.AbstractEventLoop
) -> Callable[[], None] | None:
    """Start answering /metrics on METRICS_PORT; returns how to stop, or None when metrics
    are off, no port is set, or another worker of this server already listens there."""
    if settings.metrics_port is None or not metrics_enabled(settings):
        return None
    host = "0.0.0.0" if settings.is_prod else "127.0.0.1"  # a pod's own port in prod
    try:
        server = make_server(host, settings.metrics_port, _scrape(settings, loop),
                             handler_class=_QuietHandler)  # fmt: skip
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        logger.debug("METRICS_PORT %s is served by another worker", settings.metrics_port)
        return None
    thread = threading.Thread(target=server.serve_forever, name="vibetuner-metrics", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop
