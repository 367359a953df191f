"""Server workers and the `vibetuner run` process that launched them.

Granian's workers are child processes; if their launcher is SIGKILLed they would keep
the port and the database connections forever. The CLI exports its PID; each worker
polls its parent and stops itself once it has been orphaned.

The launcher alone decides when workers stop: Ctrl-C reaches every process of the
terminal's group, so a worker ignores SIGINT and stops when its launcher stops it. And a
worker whose startup fails on an error a restart cannot fix (a setting, a missing
service) hands that error to the launcher, which stops every worker and exits with its
message, instead of restarting workers that fail the same way. The worker itself carries
on as if started, draining, until the launcher stops it: a worker that exits or hangs on
its own would be reported (or killed) by Granian.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from vibetuner.config import ascii_int
from vibetuner.exceptions import VibetunerError
from vibetuner.server import _drain

ENV_VAR = "VIBETUNER_LAUNCHER_PID"
FATAL_ENV_VAR = "VIBETUNER_FATAL_FILE"
POLL_SECONDS = 0.5
GRACE_SECONDS = 5.0

_started = False


def _launcher() -> int | None:
    """The PID of the `vibetuner run` process this process is a worker of, else None. A worker
    forked by it (multiprocessing) still knows it after it was orphaned: a launcher killed
    while the worker imported the app is found gone, not taken for someone else's."""
    launcher = ascii_int(os.environ.get(ENV_VAR, ""))
    if launcher is None or launcher == os.getpid():
        return None
    parent = multiprocessing.parent_process()
    if os.getppid() != launcher and (parent is None or parent.pid != launcher):
        return None
    return launcher


def _watch(launcher: int, grace: float) -> None:
    while os.getppid() == launcher:
        time.sleep(POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace)
    os._exit(1)


def watch_launcher(grace: float = GRACE_SECONDS) -> bool:
    """Start the watchdog in a worker launched by `vibetuner run`; False elsewhere."""
    global _started
    launcher = _launcher()
    if _started or launcher is None:
        return False
    _started = True
    thread = threading.Thread(
        target=_watch, args=(launcher, grace), name="vibetuner-parent-watch", daemon=True
    )
    thread.start()
    return True


def leave_interrupts_to_launcher() -> bool:
    """In a worker of `vibetuner run` (in its event loop): ignore SIGINT and SIGHUP, which a
    terminal sends its whole foreground group (Ctrl-C, or the terminal closing) and which the
    launcher turns into an orderly stop (or, SIGHUP in `run prod`, a respawn) of every
    worker; False (and nothing changed) elsewhere."""
    if _launcher() is None:
        return False
    with contextlib.suppress(RuntimeError, NotImplementedError, ValueError):
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)  # Ctrl-Z stops it with its group
    except ValueError:  # not the main thread: nothing of ours to change
        return False
    return True


def resend_stops_between_runs() -> bool:
    """In a worker of `vibetuner run` on uvloop: a SIGTERM that comes between two runs of its
    loop is sent again once the loop runs. Granian runs a worker's loop once for the app's
    startup and again to serve; uvloop listens for signals only while it runs (asyncio's loop
    keeps listening), so a stop in between, such as the launcher's right after a worker
    failed at startup, was lost and the worker served on until killed 30 s later."""
    loop = asyncio.get_running_loop()
    if _launcher() is None or isinstance(loop, asyncio.BaseEventLoop):
        return False
    resent = False

    def handler(signum: int, frame: FrameType | None) -> None:
        # While the loop runs, it reads the signal from its wakeup fd and stops the worker.
        nonlocal resent
        if not loop.is_running() and not resent:
            resent = True
            loop.call_soon_threadsafe(os.kill, os.getpid(), signum)

    signal.signal(signal.SIGTERM, handler)
    return True


def hand_to_launcher(error: VibetunerError) -> bool:
    """In a worker of `vibetuner run` whose startup failed: hand `error` to the launcher,
    which stops every worker and exits with its message, and start draining until stopped
    (the worker then stops as any other, quietly). False elsewhere: the caller raises."""
    launcher, path = _launcher(), os.environ.get(FATAL_ENV_VAR)
    if launcher is None or not path:
        return False
    _write_once(Path(path), error)
    _drain.set_draining()
    os.kill(launcher, signal.SIGTERM)
    return True


def _write_once(path: Path, error: VibetunerError) -> None:
    """The first worker to fail tells the launcher; the others fail the same way."""
    record = {"message": error.message, "fix": error.fix, "exit_code": error.exit_code}
    with contextlib.suppress(FileExistsError), path.open("x", encoding="utf-8") as file:
        json.dump(record, file)


def fatal_error(path: Path) -> VibetunerError | None:
    """Launcher side: the error a worker handed over (see `stop_launcher`), if any."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    error = VibetunerError(str(record.get("message")), fix=record.get("fix"))
    error.exit_code = int(record.get("exit_code", 1))
    return error
