"""Serve the app with Granian: the one place that knows Granian's options."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

KILL_TIMEOUT_SECONDS = 30
"""A worker still running this long after shutdown began is killed: stopping never hangs."""


def serve(target: str, host: str, port: int, *, workers: int, reload: bool) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    from vibetuner._parent_watch import ENV_VAR
    from vibetuner.config import reset_settings

    reset_settings()  # workers are forked: they must read the environment we leave them
    os.environ[ENV_VAR] = str(os.getpid())
    project = Path.cwd()
    src = project / "src"
    if src.is_dir():
        existing = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = f"{src}{os.pathsep}{existing}" if existing else str(src)
        if str(src) not in sys.path:
            sys.path.insert(0, str(src))
    options: dict[str, Any] = {}
    if reload:
        options.update(
            reload=True,
            reload_paths=[src if src.is_dir() else project],
            reload_ignore_dirs=[".vibetuner", "node_modules", ".venv", "__pycache__"],
        )
    Granian(
        target,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        log_access=False,
        respawn_failed_workers=not reload,
        workers_kill_timeout=KILL_TIMEOUT_SECONDS,
        working_dir=project,
        **options,
    ).serve()
