"""Draining: the launcher tells its workers that shutdown has begun, before they stop.

On SIGTERM, `vibetuner run prod` creates a marker file (named in VIBETUNER_DRAIN_FILE)
and waits SERVER_DRAIN_SECONDS before Granian stops its workers. Each worker notices
the marker within POLL_SECONDS: `/health/ready` then answers 503 (load balancers and
Kubernetes stop routing here while requests are still served; `/health/ping`, liveness,
stays 200 until the process exits), responses close their connections (so a proxy's
keep-alive pool cannot hold the worker open) and live streams end (so they do not hold
shutdown until the kill timeout). A client that still holds a connection when the kill is
near (one that stopped reading a download) has it reset, so the worker stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from pathlib import Path

from vibetuner.config import Settings, ascii_int
from vibetuner.server._sockets import listeners, reset_clients

ENV_VAR = "VIBETUNER_DRAIN_FILE"
PORT_ENV_VAR = "VIBETUNER_SERVER_PORT"
"""The port the launcher serves on: whose connections a stopping worker resets, and whose
listener's close begins its stop (a worker can listen on others, METRICS_PORT, that stay
open until its shutdown)."""
POLL_SECONDS = 0.1
KILL_MARGIN = 2.0
"""Seconds before the kill timeout that remaining client connections are reset: time for
the server to let them go and for the app's shutdown to run."""
DEV_RESET_SECONDS = 5.0
"""In development, where a stop (Ctrl-C) has no drain and should take seconds, what still
holds a connection this long after it is reset."""

logger = logging.getLogger("vibetuner")

_draining = False
_waiters: set[asyncio.Future[None]] = set()
_stopped: threading.Event | None = None


def is_draining() -> bool:
    """True once this process's launcher has begun shutting down."""
    return _draining


def marker() -> Path | None:
    """The marker file of this process's launcher, when it was launched by `run prod`."""
    value = os.environ.get(ENV_VAR)
    return Path(value) if value else None


def begin(path: Path) -> None:
    """Launcher side: tell every worker that shutdown has begun."""
    with contextlib.suppress(OSError):
        path.touch()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def set_draining() -> None:
    """Drain this process now: for a worker whose startup failed, until it is stopped."""
    _set()


def _set() -> None:
    global _draining
    _draining = True
    for waiter in list(_waiters):
        waiter.get_loop().call_soon_threadsafe(_resolve, waiter)


async def wait() -> None:
    """Return once draining has begun (never, outside `run prod`)."""
    if _draining:
        return
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _waiters.add(waiter)
    try:
        if not _draining:  # the drain thread may have set it just before the add
            await waiter
    finally:
        _waiters.discard(waiter)


def _poll(
    path: Path, stopped: threading.Event, reset_after: float | None, port: int | None,
    drain: float = 0.0,
) -> None:  # fmt: skip
    while not stopped.wait(POLL_SECONDS):
        if path.exists():
            _set()
            break
    else:
        return
    if reset_after is None or port is None:
        return
    # This worker's own stop begins when its server closes its listener: after the drain,
    # or, on a reload, when Granian reaches this worker (it replaces them one by one).
    found = [listener for listener in listeners() if listener.port == port]
    while any(listener.is_open() for listener in found):
        if stopped.wait(POLL_SECONDS):
            return
    # Not listening: closed already, or not yet (still starting, or forked during the drain).
    # Either way Granian stops this worker with the rest once the drain is over.
    if not found and stopped.wait(max(0.0, _began(path) + drain - time.time())):
        return
    if not stopped.wait(reset_after):
        count = reset_clients({port})
        if count:
            logger.info("Reset %d client connection(s) still open as the stop ends", count)


def _began(path: Path) -> float:
    """When the launcher's drain began (the marker's time)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def drain_seconds(settings: Settings) -> float:
    """How long the launcher drains before it stops its workers (`run prod` only)."""
    return settings.server_drain_seconds if settings.is_prod else 0.0


def reset_delay(shutdown_timeout: float, *, prod: bool) -> float:
    """From this worker's stop to just before Granian would kill it; in development
    DEV_RESET_SECONDS, if sooner."""
    delay = max(shutdown_timeout - KILL_MARGIN, shutdown_timeout / 2)
    return delay if prod else min(delay, DEV_RESET_SECONDS)


def start_watching(reset_after: float | None = None, drain: float = 0.0) -> bool:
    """Worker side (in the lifespan): watch for the launcher's marker, and reset the client
    connections still open `reset_after` seconds into this worker's stop, which begins when
    its listener closes (at the latest `drain` seconds after the marker); False without a
    marker."""
    global _stopped
    path = marker()
    if path is None or _stopped is not None:
        return False
    _stopped = threading.Event()
    port = ascii_int(os.environ.get(PORT_ENV_VAR, ""))
    args = (path, _stopped, reset_after, port, drain)
    threading.Thread(target=_poll, args=args, name="vibetuner-drain", daemon=True).start()
    return True


def stop_watching() -> None:
    global _stopped
    if _stopped is not None:
        _stopped.set()
    _stopped = None
