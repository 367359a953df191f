"""`--reload` for the worker: restart it when a Python file under src/ changes.

A small mtime poll, so reload needs no extra dependency.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

POLL_SECONDS = 1.0


def _snapshot(root: Path) -> dict[Path, float]:
    stamps: dict[Path, float] = {}
    for path in root.rglob("*.py"):
        try:
            stamps[path] = path.stat().st_mtime
        except OSError:
            continue
    return stamps


def _stop(child: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def run_with_reload(command: list[str], watch: Path) -> int:
    """Run `command`, restarting it on changes under `watch`, until Ctrl-C."""
    child = subprocess.Popen(command)
    stamps = _snapshot(watch)
    try:
        while True:
            time.sleep(POLL_SECONDS)
            current = _snapshot(watch)
            if current != stamps:
                stamps = current
                print("vibetuner: code changed, restarting the worker", flush=True)
                _stop(child)
                child = subprocess.Popen(command)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(child)
