"""Serve the app with Granian: the one place that knows Granian's options."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vibetuner.config import Settings


def granian_options(settings: Settings) -> dict[str, Any]:
    """Workers' threads, backpressure and timeouts from SERVER_* settings."""
    from granian.http import HTTP1Settings

    return {
        "runtime_threads": settings.server_threads,
        "blocking_threads": settings.server_blocking_threads,
        "backlog": settings.server_backlog,
        "backpressure": settings.server_backpressure,
        "http1_settings": HTTP1Settings(
            header_read_timeout=round(settings.server_header_timeout * 1000),
            keep_alive=settings.server_keep_alive,
        ),
        "workers_kill_timeout": settings.server_shutdown_timeout,
    }


def _draining_server(base: type[Any], marker: Path, delay: float) -> type[Any]:
    """Granian's server, with a drain period between SIGTERM and stopping the workers."""

    class DrainingServer(base):  # type: ignore[misc]
        _drain_started = False

        def signal_handler_interrupt(self, *args: Any, **kwargs: Any) -> None:
            from vibetuner import _drain

            if self._drain_started or delay <= 0:  # a second Ctrl-C stops at once
                _drain.begin(marker)
                super().signal_handler_interrupt()
                return
            self._drain_started = True
            _drain.begin(marker)
            stop = threading.Timer(delay, super().signal_handler_interrupt)
            stop.daemon = True
            stop.start()

    return DrainingServer


def serve(target: str, host: str, port: int, *, workers: int, reload: bool) -> None:
    from granian.constants import Interfaces
    from granian.server import Server

    from vibetuner import _drain
    from vibetuner._parent_watch import ENV_VAR
    from vibetuner.config import get_settings, reset_settings

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
    server_class: type[Any] = Server
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
            server_class = _draining_server(Server, marker, delay)
        server_class(
            target,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
            log_access=False,
            respawn_failed_workers=not reload,
            working_dir=project,
            **options,
        ).serve()
