"""Servers and children: stopping a process group, `with` blocks that start and stop, and
naming the server that holds a port or a folder."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from vibetuner.exceptions import ConfigError
from vibetuner.server._net import port_listener

PR_SET_PDEATHSIG = 1
NUDGE_INTERVAL = 0.05
"""Seconds between two nudges of a stopping group (`stop_group`)."""


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's prctl, loaded in the parent: a forked child must not load a library (another
    thread may hold the loader's lock at the fork)."""
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError, AttributeError):
        prctl: Callable[..., int] = ctypes.CDLL("libc.so.6", use_errno=True).prctl
        return prctl
    return None


def die_with_parent() -> Callable[[], None]:
    """A `preexec_fn` that has Linux SIGTERM the child when this process dies, so nothing is
    orphaned. Linux sends it when the forking *thread* ends: start long-lived children from
    a thread that lives as long as they should."""
    prctl, parent = _prctl(), os.getpid()

    def in_child() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:  # the parent died before the request took hold
                os.kill(os.getpid(), signal.SIGTERM)

    return in_child


def stop_group(
    process: subprocess.Popen[Any],
    timeout: float = 20,
    *,
    nudge: Callable[[], None] | None = None,
) -> None:
    """SIGTERM the whole group, then SIGKILL it if it is still there after `timeout`.

    `nudge`, if given, runs every NUDGE_INTERVAL while the group stops: for a server whose
    stop waits for something that only an outside event ends (see `EmbeddedMongo.stop`)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            process.wait(max(0.0, min(left, NUDGE_INTERVAL) if nudge else left))
            return
        except subprocess.TimeoutExpired:
            if left <= 0:
                break
            if nudge is not None:
                nudge()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def describe_server(pid: int | None) -> str | None:
    """`vibetuner run dev --port 8000` (pid 41, in /home/me/app): the outermost `vibetuner`
    command `pid` runs under (a server's workers are its children), else `pid`'s own command;
    None when it is gone or hidden from this user."""
    import psutil  # psutil: only when a port or a folder is taken

    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        found = process, process.cmdline()
        for candidate in (process, *process.parents()):
            command = candidate.cmdline()
            if any(os.path.basename(word) == "vibetuner" for word in command[:2]):
                found = candidate, command
        process, command = found
        for index, word in enumerate(command[:2]):
            if os.path.basename(word) == "vibetuner":
                command = command[index:]
        words = [os.path.basename(command[0]), *command[1:]] if command else [process.name()]
        text = " ".join(" ".join(words).split())
        text = text if len(text) <= 80 else text[:77] + "..."
        return f"`{text}` (pid {process.pid}, in {process.cwd()})"
    except (psutil.Error, OSError):
        return None


def busy_port_error(host: str, port: int, command: str) -> ConfigError:
    """Port `port` is taken: say by which server, and how to pick another port."""
    holder = describe_server(port_listener(port))
    return ConfigError(
        f"Port {port} on {host} is already in use"
        + (f" by {holder}." if holder else " by another server."),
        fix=f"Stop that server, or pick another port: `vibetuner {command} --port {port + 1}`.",
    )


class Started:
    """`with server:` starts it, and stops it however the block ends."""

    def start(self) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
