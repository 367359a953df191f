"""Serve the app with Granian: the one place that knows Granian's options."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib.util
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import FrameType
from typing import Any

from vibetuner.config import Settings
from vibetuner.server import _drain
from vibetuner.server._parent_watch import ENV_VAR, FATAL_ENV_VAR, fatal_error
from vibetuner.server._process import busy_port_error
from vibetuner.server._terminal import server_stopping

logger = logging.getLogger("vibetuner")


def granian_options(settings: Settings) -> dict[str, Any]:
    """Workers' event loop (uvloop: about a fifth more requests per CPU than asyncio's in
    `make bench`), threads, backpressure, header limits and timeouts from SERVER_* settings."""
    from granian.constants import Loops  # Granian: kept off the CLI's startup
    from granian.http import HTTP1Settings  # Granian: kept off the CLI's startup

    return {
        "loop": Loops.uvloop if importlib.util.find_spec("uvloop") else Loops.asyncio,
        "runtime_threads": settings.server_threads,
        "blocking_threads": settings.server_blocking_threads,
        "backlog": settings.server_backlog,
        "backpressure": settings.server_backpressure,
        "http1_settings": HTTP1Settings(
            header_read_timeout=round(settings.server_header_timeout * 1000),
            keep_alive=settings.server_keep_alive,
            max_buffer_size=settings.server_header_max_bytes,
        ),
        "workers_kill_timeout": settings.server_shutdown_timeout,
    }


GRANIAN_LOGGER = "_granian"
"""The logger Granian's launcher reports through (configured by its `log_dictconfig`)."""
KILL_REPORT = "after it refused to gracefully stop"
STOPPING = ("Shutting down granian", "Changes detected, reloading workers", "Stopping old worker-")
"""What Granian logs just before it stops workers: every worker at a shutdown or at a
development reload, or the old one of a respawn (SIGHUP); its kill timeout counts from there."""


class KillReports(logging.Filter):
    """Granian waits up to the kill timeout for a stopping worker, then reports and kills it
    if `is_alive()` still says so 1 ms later. But its watcher thread also waits for each
    worker, and when that thread reaps the exited worker first, `is_alive()` keeps saying
    True until the thread runs again, which on a busy machine takes longer than 1 ms: a
    worker that had stopped by itself was reported as "refused to gracefully stop". A
    report that comes before the kill timeout, counted from Granian's own announcement of
    the stop, is one of those, and is dropped; a real one says how long the stop had run."""

    def __init__(self, kill_timeout: float) -> None:
        super().__init__()
        self.kill_timeout = kill_timeout
        self.since: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(STOPPING):
            self.since = time.monotonic()
            return True
        if self.since is None or not message.endswith(KILL_REPORT):
            return True
        waited = time.monotonic() - self.since
        if waited < self.kill_timeout:
            logger.debug("Not reported, %.1f s into the stop: %s", waited, message)
            return False
        record.msg, record.args = f"{message} ({waited:.0f} s into the stop)", ()
        return True


def drain_on_interrupt(
    marker: Callable[[], Path], delay: float, fatal: Path, *, hangup_stops: bool = False
) -> Callable[[], None]:
    """A startup hook: the first SIGTERM or SIGINT begins the drain (the `marker()` file),
    and Granian's own handler (which stops the workers) runs `delay` seconds later; a second
    one, or one sent by a worker that failed for good (`fatal` exists), stops at once.
    Runs after Granian installs its handlers, and wraps whatever they are.

    A worker is forked with these handlers and keeps them until Granian's worker code sets
    its own, after the app is imported. A stop in between would only flag the launcher's
    copy: the worker served on, and was killed SERVER_SHUTDOWN_TIMEOUT later. There, SIGTERM
    ends it at once (nothing has started yet) and SIGINT is the launcher's to act on.

    With `hangup_stops` (`run dev`), SIGHUP stops as SIGINT does, instead of Granian's
    respawn: a terminal that closes sends it, and the server must not outlive it."""

    def install() -> None:
        started = threading.Event()
        launcher = os.getpid()

        def wrap(stop: Any) -> Callable[[int, FrameType | None], None]:
            def handler(signum: int, frame: FrameType | None) -> None:
                if os.getpid() != launcher:  # a worker still importing the app
                    if signum == signal.SIGTERM:
                        signal.signal(signum, signal.SIG_DFL)
                        os.kill(os.getpid(), signum)
                    return
                server_stopping()  # continues workers a Ctrl-Z stopped, so that they stop
                _drain.begin(marker())
                if started.is_set() or delay <= 0 or fatal.exists():
                    stop(signum, frame)
                    return
                started.set()
                timer = threading.Timer(delay, stop, (signum, frame))
                timer.daemon = True
                timer.start()

            return handler

        stops = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
        if hangup_stops:
            stops[signal.SIGHUP] = stops[signal.SIGINT]
        for signum, stop in stops.items():
            if callable(stop):
                signal.signal(signum, wrap(stop))

    return install


class Generations:
    """One drain marker per generation of workers: a reload drains the old workers (their
    live streams end, so they stop at once) while the new ones start undrained."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        os.environ[_drain.ENV_VAR] = str(self.current())

    def current(self) -> Path:
        return self.folder / f"draining-{self.count}"

    def reload(self) -> None:
        """Granian's reload hook: it runs before the old workers stop and the new ones fork."""
        _drain.begin(self.current())
        self.count += 1
        os.environ[_drain.ENV_VAR] = str(self.current())


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's multiprocess folder: set, the workers share one /metrics."""


def serve(
    target: str,
    host: str,
    port: int,
    *,
    settings: Settings,
    workers: int,
    reload: bool,
    command: str = "run",
    shared_metrics: bool = False,
    hangup_stops: bool = False,
) -> None:
    """Serve until stopped; a worker's unfixable startup error ends it with that error.
    `settings` are what the workers are forked with: read after the last change to the
    environment they come from (run dev's embedded DATABASE_URL).

    With `shared_metrics` and several workers, each run gets a fresh folder for
    prometheus_client's multiprocess files (unless PROMETHEUS_MULTIPROC_DIR is already set),
    so a scrape of any worker reports them all. `hangup_stops`: SIGHUP stops rather than
    respawns (see `drain_on_interrupt`)."""
    from granian.constants import Interfaces  # Granian: kept off the CLI's startup
    from granian.server import Server

    os.environ[ENV_VAR] = str(os.getpid())
    os.environ[_drain.PORT_ENV_VAR] = str(port)
    project = Path.cwd()
    src = project / "src"
    if src.is_dir():
        existing = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = f"{src}{os.pathsep}{existing}" if existing else str(src)
        if str(src) not in sys.path:
            sys.path.insert(0, str(src))
    options = granian_options(settings)
    with tempfile.TemporaryDirectory(prefix="vibetuner-run-") as state:
        generations = Generations(Path(state))
        fatal = Path(state) / "fatal.json"
        os.environ[FATAL_ENV_VAR] = str(fatal)
        shared = shared_metrics and workers > 1 and not os.environ.get(MULTIPROC_ENV)
        if shared:
            share_metrics(Path(state) / "metrics")
        if reload:
            options.update(
                reload=True,
                reload_paths=[src if src.is_dir() else project],
                reload_ignore_dirs=[".vibetuner", "node_modules", ".venv", "__pycache__"],
            )
        server = Server(
            target,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
            log_access=False,
            respawn_failed_workers=not reload,
            working_dir=project,
            **options,
        )
        delay = _drain.drain_seconds(settings)
        hooks = drain_on_interrupt(generations.current, delay, fatal, hangup_stops=hangup_stops)
        server.on_startup(hooks)
        server.on_reload(generations.reload)
        reports = KillReports(settings.server_shutdown_timeout)
        logging.getLogger(GRANIAN_LOGGER).addFilter(reports)
        try:
            server.serve()
        except (OSError, RuntimeError) as exc:
            if not _address_in_use(exc):
                raise
            raise busy_port_error(host, port, command) from exc
        finally:
            logging.getLogger(GRANIAN_LOGGER).removeFilter(reports)
            if shared:  # the folder goes with this run
                os.environ.pop(MULTIPROC_ENV, None)
            error = fatal_error(fatal)
            if error is not None:
                raise error


def share_metrics(folder: Path) -> None:
    """Let the workers about to start share one /metrics through `folder`. prometheus_client
    reads the setting when a process first creates its metrics: this one must not have."""
    if "prometheus_client" in sys.modules:
        logger.warning("metrics were loaded before the workers started: each worker keeps "
                       "its own, and a scrape reads the worker that answers it")  # fmt: skip
        return
    folder.mkdir()
    os.environ[MULTIPROC_ENV] = str(folder)


def _address_in_use(exc: OSError | RuntimeError) -> bool:
    """Granian reports a taken port as RuntimeError("Address already in use (os error 98)")."""
    if isinstance(exc, OSError):
        return exc.errno == errno.EADDRINUSE
    return f"(os error {errno.EADDRINUSE})" in str(exc)


@contextlib.asynccontextmanager
async def serve_in_loop(app: Any, host: str, port: int) -> AsyncIterator[None]:
    """Serve an ASGI app from this event loop while the block runs (Granian's embedded
    server, for a process whose loop does other work, like the job worker). Raises OSError
    when it cannot listen."""
    from granian.constants import Interfaces  # Granian: kept off the CLI's startup
    from granian.server.embed import Server

    server = Server(app, address=host, port=port, interface=Interfaces.ASGINL, log_enabled=False)
    listening = asyncio.Event()
    server.on_startup(listening.set)
    serving = asyncio.create_task(server.serve())
    waiting = asyncio.create_task(listening.wait())
    await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if serving.done():
        error = serving.exception() or RuntimeError("the server stopped before listening")
        if isinstance(error, OSError | RuntimeError) and _address_in_use(error):
            raise OSError(errno.EADDRINUSE, "the port is already in use") from error
        raise error
    stop: Callable[[], None] = server.stop  # untyped in Granian
    try:
        yield
    finally:
        stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(serving, 10)
