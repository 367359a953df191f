"""A server started by make or just in a terminal: it takes the terminal from its parent's job,
so Ctrl-C stops it alone, and it keeps Ctrl-Z, `fg` and `bg` working as for any job."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

JOB_POLL_INTERVAL = 0.05
"""Seconds between two looks at a suspended parent job: after `fg`, keys typed before the
server takes the terminal back go to the parent."""
PARENT_STOP_WAIT = 1.0
"""Seconds a Ctrl-Z waits for the parent's job to stop; a parent that does not (it ignores
SIGTSTP) has the server resumed in the foreground."""


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
        job = _JobControl(tty, group)
        # A Ctrl-Z while the terminal changes hands waits (blocked) for the handler.
        with _blocked(signal.SIGTSTP):
            os.setpgid(0, 0)
            _hand_terminal(tty, job.group)
            previous = signal.signal(signal.SIGTSTP, job.suspend)
        try:
            yield True
        finally:
            with _blocked(signal.SIGTSTP):
                job.close()
                if job.holds_terminal():  # not when the shell has it (suspended, `bg`)
                    with contextlib.suppress(OSError):
                        _hand_terminal(tty, group)
                signal.signal(signal.SIGTSTP, signal.SIG_IGN)  # drops a Ctrl-Z still pending
            signal.signal(signal.SIGTSTP, previous)
    finally:
        os.close(tty)


def continue_own_group() -> None:
    """A stop must reach workers that a Ctrl-Z left stopped: continue the group this
    launcher leads (nothing when it leads none)."""
    if os.getpgrp() == os.getpid():
        with contextlib.suppress(OSError):
            os.killpg(0, signal.SIGCONT)


class _JobControl:
    """Ctrl-Z for a server that took the terminal from its parent's job (make, just).

    The terminal stops only this server's group, so the shell, which waits on the parent,
    would never get its prompt back. So the launcher hands the terminal back and stops the
    parent's group too; when the shell continues that group (`fg` or `bg`), this server's
    group continues with it, and takes the terminal again once it is in the foreground.
    Nothing signals this group that the shell resumed the parent's, so a thread looks."""

    def __init__(self, tty: int, parent_group: int) -> None:
        self.tty, self.parent_group = tty, parent_group
        self.group = self.launcher = os.getpid()  # the group `terminal_foreground` makes
        self.wake, self.stopping = threading.Event(), threading.Event()
        self.thread: threading.Thread | None = None

    def holds_terminal(self) -> bool:
        try:
            return os.tcgetpgrp(self.tty) == self.group
        except OSError:
            return False

    def suspend(self, signum: int, frame: object) -> None:
        if os.getpid() != self.launcher:  # a worker forked before it reset the signal
            signal.signal(signal.SIGTSTP, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGSTOP)
            return
        if not self.holds_terminal():  # not the terminal's (resumed in the background)
            return
        with contextlib.suppress(OSError):
            _hand_terminal(self.tty, self.parent_group)
            os.killpg(self.parent_group, signal.SIGTSTP)
        self.wake.set()
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="vibetuner-job-control",
                                           daemon=True)  # fmt: skip
            self.thread.start()

    def close(self) -> None:
        """Stop looking, and continue this group if a Ctrl-Z left it stopped."""
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join()
            with contextlib.suppress(OSError):
                os.killpg(self.group, signal.SIGCONT)

    def _run(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})  # tcsetpgrp from behind
        while True:
            self.wake.wait()
            if self.stopping.is_set():
                return
            self.wake.clear()
            self._resume()

    def _resume(self) -> None:
        """Wait for the parent's job to stop, then to run again; continue this group then,
        and take the terminal when the parent's job has it (`fg`)."""
        stopped, waited, continued = False, 0.0, False
        while not self.stopping.wait(JOB_POLL_INTERVAL):
            waited += JOB_POLL_INTERVAL
            state = _state(self.parent_group)
            if state in ("T", "t"):
                stopped = True
                continue
            if not stopped and state is not None and waited < PARENT_STOP_WAIT:
                continue  # the parent's job has not stopped yet
            try:
                foreground = os.tcgetpgrp(self.tty) == self.parent_group
            except OSError:  # the terminal hung up: stop, as the server would have in front
                with contextlib.suppress(OSError):
                    os.killpg(self.group, signal.SIGCONT)
                    os.kill(self.launcher, signal.SIGTERM)
                return
            with contextlib.suppress(OSError):
                if foreground:
                    os.tcsetpgrp(self.tty, self.group)
                if foreground or not continued:
                    os.killpg(self.group, signal.SIGCONT)
                    continued = True
            if foreground or state is None:
                return


@contextlib.contextmanager
def _blocked(signum: int) -> Iterator[None]:
    """`signum` waits while the block runs (this thread), and is delivered after it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signum})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})


def _hand_terminal(tty: int, group: int) -> None:
    """Give the terminal to `group`; a background process may (SIGTTOU ignored meanwhile)."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(tty, group)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def _state(pid: int) -> str | None:
    """A process's scheduler state (`T` when stopped), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b") ", 1)[1][:1].decode()
    except (OSError, IndexError):
        return None
