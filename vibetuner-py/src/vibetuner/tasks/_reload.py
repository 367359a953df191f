"""`--reload` for the worker: restart it when a Python file under src/ changes.

A small poll of sizes and mtimes, so reload needs no extra dependency. The worker is a child
process that watches this one: stopped with SIGTERM (a process manager, `kill`) this stops
the worker first, and a worker whose reloader was SIGKILLed stops itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from types import FrameType

from vibetuner.server._parent_watch import ENV_VAR as LAUNCHER_ENV_VAR

POLL_SECONDS = 1.0


class _Stopped(Exception):
    """SIGTERM reached the reloader."""


def _snapshot(root: Path) -> dict[Path, tuple[int, int]]:
    stamps: dict[Path, tuple[int, int]] = {}
    for path in root.rglob("*.py"):
        try:
            stat = path.stat()
        except OSError:
            continue
        stamps[path] = (stat.st_mtime_ns, stat.st_size)
    return stamps


def _stop(child: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def run_with_reload(command: list[str], watch: Path) -> int:
    """Run `command`, restarting it on changes under `watch`, until Ctrl-C or SIGTERM."""
    env = {**os.environ, LAUNCHER_ENV_VAR: str(os.getpid())}
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    child = subprocess.Popen(command, env=env)
    stamps = _snapshot(watch)
    try:
        while True:
            time.sleep(POLL_SECONDS)
            current = _snapshot(watch)
            if current != stamps:
                stamps = current
                print("vibetuner: code changed, restarting the worker", flush=True)
                _stop(child)
                child = subprocess.Popen(command, env=env)
    except (KeyboardInterrupt, _Stopped):
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)  # a second SIGTERM stops us; the worker follows
        _stop(child)
