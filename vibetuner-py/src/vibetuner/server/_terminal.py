"""A server started by make or just in a terminal: it takes the terminal from its parent's job,
so Ctrl-C stops it alone, and it keeps Ctrl-Z, `fg` and `bg` working as for any job."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

JOB_POLL_INTERVAL = 0.05
"""Seconds between two looks at the parent's job: after `fg`, keys typed before the server
takes the terminal back go to the parent."""
ORPHAN_POLL_INTERVAL = 0.25
"""Seconds between two looks at the parent: once it is gone (`kill -9 %1` on make), nothing
would ever bring the server forward or stop it, so it stops itself."""
PARENT_STOP_WAIT = 1.0
"""Seconds a Ctrl-Z waits for the parent's job to stop; a parent that does not (it ignores
SIGTSTP, as PID 1 in a container does) has the server resumed in the foreground."""

_stopping = threading.Event()


@contextlib.contextmanager
def terminal_foreground() -> Iterator[bool]:
    """Make this process the terminal's foreground job while the block runs, when it shares
    its process group with a parent (make, just, npm): Ctrl-C then stops this server alone,
    which stops cleanly, instead of interrupting the parent too, which would report the
    interrupt as its own failure (`make: *** [demo] Interrupt`). Yields whether it did."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        yield False  # no terminal
        return
    try:
        group = os.getpgrp()
        if os.tcgetpgrp(tty) != group or group == os.getpid():
            yield False  # in the background, or already a job of its own (started by a shell)
            return
        # The server's output never stops it (`stty tostop`): in the background, nothing
        # would continue it. That also lets it hand the terminal over from behind.
        previous_ttou = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        job = _JobControl(tty, group)
        with _blocked(signal.SIGTSTP):  # a Ctrl-Z meanwhile waits for the handler
            os.setpgid(0, 0)
            os.tcsetpgrp(tty, job.group)
            previous = signal.signal(signal.SIGTSTP, job.suspend)
        job.watch_parent()
        try:
            yield True
        finally:
            with _blocked(signal.SIGTSTP):
                job.close()
                if job.holds_terminal():  # not when the shell has it (suspended, `bg`)
                    with contextlib.suppress(OSError):
                        os.tcsetpgrp(tty, group)
                signal.signal(signal.SIGTSTP, signal.SIG_IGN)  # drops a Ctrl-Z still pending
            signal.signal(signal.SIGTSTP, previous)
            signal.signal(signal.SIGTTOU, previous_ttou)
    finally:
        os.close(tty)


def server_stopping() -> None:
    """A stop began: continue the group this launcher leads (workers that a Ctrl-Z stopped
    could not stop), and end a wait for a suspended parent job."""
    _stopping.set()
    if os.getpgrp() == os.getpid():
        with contextlib.suppress(OSError):
            os.killpg(0, signal.SIGCONT)


class _JobControl:
    """Ctrl-Z for a server that took the terminal from its parent's job (make, just).

    The terminal stops only this server's group, so the shell, which waits on the parent,
    would never get its prompt back. So the launcher hands the terminal back, stops the
    parent's group too, and waits (its main thread, so its reloader and supervisor pause
    with the job) until the shell continues that group. Then this server's group continues:
    with the terminal after `fg`; after `bg`, a thread takes it when the job comes forward.
    Nothing signals this group that the shell resumed the parent's, so the launcher looks."""

    def __init__(self, tty: int, parent_group: int) -> None:
        self.tty, self.parent_group = tty, parent_group
        self.group = self.launcher = os.getpid()  # the group `terminal_foreground` makes
        self.parent = os.getppid()
        self.closed = threading.Event()
        self.watcher: threading.Thread | None = None
        self.parent_watch: threading.Thread | None = None

    def holds_terminal(self) -> bool:
        return _foreground(self.tty) == self.group

    def close(self) -> None:
        self.closed.set()
        for thread in (self.watcher, self.parent_watch):
            if thread is not None:
                thread.join()

    def watch_parent(self) -> None:
        """Stop once the parent is gone: make killed with SIGKILL passes nothing on to this
        server, which has a group of its own, and it would keep its port with no terminal."""
        self.parent_watch = threading.Thread(
            target=self._stop_when_orphaned, name="vibetuner-parent-watch", daemon=True
        )
        self.parent_watch.start()

    def _stop_when_orphaned(self) -> None:
        while not self.closed.wait(ORPHAN_POLL_INTERVAL):
            if os.getppid() != self.parent:
                with contextlib.suppress(OSError):
                    os.kill(self.launcher, signal.SIGTERM)  # stops as `kill` would
                return

    def suspend(self, signum: int, frame: object) -> None:
        if os.getpid() != self.launcher:  # a worker forked before it reset the signal
            signal.signal(signal.SIGTSTP, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGSTOP)
            return
        if not self.holds_terminal():  # not the terminal's (resumed in the background)
            return
        if _stopping.is_set():  # a Ctrl-Z during the stop: the stop goes on, workers too
            with contextlib.suppress(OSError):
                os.killpg(self.group, signal.SIGCONT)
            return
        with contextlib.suppress(OSError):
            os.tcsetpgrp(self.tty, self.parent_group)
            os.killpg(self.parent_group, signal.SIGTSTP)
        if self._parent_resumed():
            self._resume()

    def _parent_resumed(self) -> bool:
        """Wait for the parent's job to stop, then to run again; False when a stop began
        meanwhile (its handler runs inside this one)."""
        stopped, waited = False, 0.0
        while not _stopping.wait(JOB_POLL_INTERVAL):
            waited += JOB_POLL_INTERVAL
            state = _state(self.parent_group)
            if state in ("T", "t"):
                stopped = True
            elif stopped or state is None:
                return True
            elif waited >= PARENT_STOP_WAIT:  # it ignores SIGTSTP: its others must not stay
                with contextlib.suppress(OSError):  # stopped (the recipe's shell)
                    os.killpg(self.parent_group, signal.SIGCONT)
                return True
        return False

    def _resume(self) -> None:
        """Continue this group: in the foreground if the parent's job is (`fg`); otherwise
        in the background, with a thread that takes the terminal when the job comes forward."""
        front = _foreground(self.tty)
        if front == self.parent_group:
            self._come_forward()
            return
        with contextlib.suppress(OSError):
            os.killpg(self.group, signal.SIGCONT)
        if front is None:
            self._hung_up()
        elif self.watcher is None or not self.watcher.is_alive():
            self.watcher = threading.Thread(target=self._take_terminal_when_in_front,
                                            name="vibetuner-job-control", daemon=True)  # fmt: skip
            self.watcher.start()

    def _take_terminal_when_in_front(self) -> None:
        while not self.closed.wait(JOB_POLL_INTERVAL) and not _stopping.is_set():
            front = _foreground(self.tty)
            if front is None:
                self._hung_up()
                return
            if front == self.parent_group and _state(self.parent_group) not in ("T", "t"):
                self._come_forward()
                return

    def _come_forward(self) -> None:
        """Take the terminal and continue this group (stopped by Ctrl-Z, or in the background
        by its own output)."""
        with contextlib.suppress(OSError):
            os.tcsetpgrp(self.tty, self.group)
            os.killpg(self.group, signal.SIGCONT)

    def _hung_up(self) -> None:
        """The terminal hung up: what it does to a server in front of it (SIGHUP)."""
        with contextlib.suppress(OSError):
            os.kill(self.launcher, signal.SIGHUP)


@contextlib.contextmanager
def _blocked(signum: int) -> Iterator[None]:
    """`signum` waits while the block runs (this thread), and is delivered after it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signum})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})


def _foreground(tty: int) -> int | None:
    """The terminal's foreground process group; None once the terminal has hung up."""
    try:
        return os.tcgetpgrp(tty)
    except OSError:
        return None


def _state(pid: int) -> str | None:
    """A process's scheduler state (`T` when stopped), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b") ", 1)[1][:1].decode()
    except (OSError, IndexError):
        return None
