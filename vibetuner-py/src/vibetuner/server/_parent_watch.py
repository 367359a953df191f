"""Server workers exit when the `vibetuner run` process that launched them dies.

Granian's workers are child processes; if their launcher is SIGKILLed they would keep
the port and the database connections forever. The CLI exports its PID; each worker
polls its parent and stops itself once it has been orphaned.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from vibetuner.config import ascii_int

ENV_VAR = "VIBETUNER_LAUNCHER_PID"
POLL_SECONDS = 0.5
GRACE_SECONDS = 5.0

_started = False


def _watch(launcher: int, grace: float) -> None:
    while os.getppid() == launcher:
        time.sleep(POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace)
    os._exit(1)


def watch_launcher(grace: float = GRACE_SECONDS) -> bool:
    """Start the watchdog in a worker launched by `vibetuner run`; False elsewhere."""
    global _started
    launcher = ascii_int(os.environ.get(ENV_VAR, ""))
    if _started or launcher is None or launcher == os.getpid():
        return False
    if os.getppid() != launcher:
        return False
    _started = True
    thread = threading.Thread(
        target=_watch, args=(launcher, grace), name="vibetuner-parent-watch", daemon=True
    )
    thread.start()
    return True
