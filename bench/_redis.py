"""A redis-server for the app under test, as in production: sessions and rate limits."""

import shutil
from pathlib import Path

from bench._procs import Child, Processes, free_port, wait_tcp


def available() -> bool:
    return shutil.which("redis-server") is not None


def start(procs: Processes, workdir: Path, timeout: float = 20.0) -> tuple[Child, str]:
    """Start redis-server in the foreground (so it is stopped with everything else)."""
    port = free_port()
    argv = [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", "--dir", str(workdir),
    ]  # fmt: skip
    child = procs.start("redis", argv, cwd=workdir)
    wait_tcp(child, port, timeout)
    return child, f"redis://127.0.0.1:{port}/0"
