"""`vibetuner run prod` on two cores: the checks in a child, the imports here, at once.

Before a server starts, the command reads its options and settings and checks them (the
key's strength, the database, Redis, the port, pending migrations), about 0.4 s of Typer,
pydantic-settings and I/O; and the launcher loads the framework its workers import, about
0.8 s. Neither needs the other, so the launcher forks before it has loaded anything: the
child (the *front*) runs the command as usual and, where it would serve, hands what it
decided (address, workers, the environment it set) back through a pipe and exits; this
process loads the framework meanwhile, then serves that. When the front does not hand over
(an error, `--help`) this process exits as the front did, after it printed its message.

This process keeps the command's PID, so a supervisor's signals reach the server. Before it
serves, SIGTERM and SIGHUP end both processes as they would have ended the command; SIGINT
(Ctrl-C, which reaches both) lets the front stop on its own, as the command would have; and
a signal the command was started to ignore (`nohup`, a shell's `cmd &`) stays ignored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import threading
from types import FrameType

from vibetuner.exceptions import debug_env, run_reporting
from vibetuner.server._preload import preload_framework
from vibetuner.server._process import die_with_parent

FRONT_STOP_WAIT = 10.0
"""Seconds a Ctrl-C waits for the front to stop on its own, cleaning up as the command would
have (a terminal's Ctrl-C reaches it too), before it is passed on (a SIGINT sent to this
process alone). A second SIGINT would cut the front's own clean-up short."""

_handover: int | None = None
"""In the front: the pipe's end to write the handover to."""
_started_env: dict[str, str] = {}
"""In the front: the environment it started with."""


@dataclasses.dataclass(frozen=True)
class Handover:
    """What the front decided: the launcher serves it."""

    target: str
    host: str
    port: int
    workers: int
    shared_metrics: bool
    env: dict[str, str | None] = dataclasses.field(default_factory=dict)
    """The environment the front set or removed (None) while it checked."""


def wanted(argv: list[str]) -> bool:
    return argv[1:3] == ["run", "prod"] and hasattr(os, "fork")


def split() -> None:
    """Fork; returns in the front, which runs the command. This process never returns: it
    loads the framework, then serves the front's handover or exits as the front did."""
    global _handover
    in_front = die_with_parent()
    # Reaping the front needs SIGCHLD's default: a parent that ignores it (inherited through
    # exec) would have the kernel reap the front, and this process could not learn its end.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    reader, writer = os.pipe()
    environment = dict(os.environ)
    front = os.fork()
    if front == 0:
        os.close(reader)
        in_front()
        _handover = writer
        _started_env.update(environment)
        return
    os.close(writer)
    _launch(_Front(front, reader))
    sys.exit(0)


def front() -> bool:
    """True in the front: the command hands over (`hand_over`) where it would serve."""
    return _handover is not None


def hand_over(handover: Handover) -> None:
    """Give the launcher what to serve; the command then ends here."""
    global _handover
    assert _handover is not None
    changed: dict[str, str | None] = {
        name: value for name, value in os.environ.items() if _started_env.get(name) != value
    }
    changed.update({name: None for name in _started_env if name not in os.environ})
    data = json.dumps(dataclasses.asdict(dataclasses.replace(handover, env=changed)))
    with os.fdopen(_handover, "w") as pipe:
        pipe.write(data)
    _handover = None


class _Front:
    """The child that runs the command: a thread waits for its handover and its exit, and
    exits this process as the front exited when it did not hand over."""

    def __init__(self, pid: int, reader: int) -> None:
        self.pid = pid
        self.reader = reader
        self.handover: Handover | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._wait, name="vibetuner-front", daemon=True)
        self.thread.start()

    def _wait(self) -> None:
        with os.fdopen(self.reader, "rb") as pipe:
            data = pipe.read()
        try:
            code = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        except ChildProcessError:  # reaped by someone else: the pipe says whether it handed over
            code = 0 if data else 1
        if code == 0 and data:
            self.handover = Handover(**json.loads(data))
        self.done.set()
        if self.handover is None:  # its message (or help) is printed: end as it ended
            os._exit(128 - code if code < 0 else code)

    def stop(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM or SIGHUP before serving: both processes end as the command would have."""
        if not self.done.is_set():
            with contextlib.suppress(ProcessLookupError):  # it has just exited
                os.kill(self.pid, signum)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)  # as PID 1 (a container's), the kernel ignores that signal

    def interrupt(self, signum: int, frame: FrameType | None) -> None:
        """Ctrl-C before serving: the front stops (and reports) as the command would have."""
        if not self.done.wait(FRONT_STOP_WAIT):
            with contextlib.suppress(ProcessLookupError):  # it has just exited
                os.kill(self.pid, signal.SIGINT)
            self.done.wait()
        os._exit(130)


def _launch(front: _Front) -> None:
    """Load what the workers import while the front checks; serve its handover."""
    handlers = {signal.SIGTERM: front.stop, signal.SIGHUP: front.stop,
                signal.SIGINT: front.interrupt}  # fmt: skip
    previous = {
        signum: signal.signal(signum, handler)
        for signum, handler in handlers.items()
        if signal.getsignal(signum) is not signal.SIG_IGN  # as `nohup` or `cmd &` started it
    }
    preload_framework(redis=_redis_configured)
    front.thread.join()
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    handover = front.handover
    assert handover is not None  # else the thread has ended this process
    for name, value in handover.env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    run_reporting(lambda: serve_prod(handover), debug=debug_env)


def _redis_configured() -> bool:
    """The app has REDIS_URL (from the environment or .env): its workers load coredis."""
    from vibetuner.config import get_settings  # pydantic-settings: after the fork, not before

    try:
        return bool(get_settings().redis_url)
    except Exception:  # the front reports it
        return False


def serve_prod(handover: Handover) -> None:
    """Serve production as `run prod` decided, in the terminal's foreground."""
    from vibetuner.config import get_settings, reset_settings  # pydantic-settings: after the fork
    from vibetuner.server._granian import serve  # Granian: after the fork
    from vibetuner.server._terminal import terminal_foreground  # (with Granian's module)

    reset_settings()  # read with the environment the front set
    settings = get_settings()
    with terminal_foreground():
        serve(handover.target, handover.host, handover.port, settings=settings,
              workers=handover.workers, reload=False, command="run prod",
              shared_metrics=handover.shared_metrics)  # fmt: skip
