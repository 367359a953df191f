"""Serve the app with Granian: the one place that knows Granian's options."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from vibetuner.config import Settings, get_settings, reset_settings
from vibetuner.server import _drain
from vibetuner.server._parent_watch import ENV_VAR


def granian_options(settings: Settings) -> dict[str, Any]:
    """Workers' threads, backpressure, header limits and timeouts from SERVER_* settings."""
    from granian.http import HTTP1Settings  # Granian: kept off the CLI's startup

    return {
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


def drain_on_interrupt(marker: Path, delay: float) -> Callable[[], None]:
    """A startup hook: the first SIGTERM or SIGINT begins the drain, and Granian's own
    handler (which stops the workers) runs `delay` seconds later; a second one stops at
    once. Runs after Granian installs its handlers, and wraps whatever they are."""

    def install() -> None:
        started = threading.Event()

        def wrap(stop: Any) -> Callable[[int, FrameType | None], None]:
            def handler(signum: int, frame: FrameType | None) -> None:
                _drain.begin(marker)
                if started.is_set() or delay <= 0:
                    stop(signum, frame)
                    return
                started.set()
                timer = threading.Timer(delay, stop, (signum, frame))
                timer.daemon = True
                timer.start()

            return handler

        for signum in (signal.SIGTERM, signal.SIGINT):
            stop = signal.getsignal(signum)
            if callable(stop):
                signal.signal(signum, wrap(stop))

    return install


def serve(target: str, host: str, port: int, *, workers: int, reload: bool) -> None:
    from granian.constants import Interfaces  # Granian: kept off the CLI's startup
    from granian.server import Server

    reset_settings()  # workers are forked: they must read the environment we leave them
    settings = get_settings()
    os.environ[ENV_VAR] = str(os.getpid())
    project = Path.cwd()
    src = project / "src"
    if src.is_dir():
        existing = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = f"{src}{os.pathsep}{existing}" if existing else str(src)
        if str(src) not in sys.path:
            sys.path.insert(0, str(src))
    options = granian_options(settings)
    drain: Callable[[], None] | None = None
    with tempfile.TemporaryDirectory(prefix="vibetuner-drain-") as state:
        if reload:
            options.update(
                reload=True,
                reload_paths=[src if src.is_dir() else project],
                reload_ignore_dirs=[".vibetuner", "node_modules", ".venv", "__pycache__"],
            )
        else:
            marker = Path(state) / "draining"
            os.environ[_drain.ENV_VAR] = str(marker)
            delay = settings.server_drain_seconds if settings.is_prod else 0.0
            drain = drain_on_interrupt(marker, delay)
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
        if drain is not None:
            server.on_startup(drain)
        server.serve()
