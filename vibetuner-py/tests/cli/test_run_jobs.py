"""Job control on `make demo` in an interactive shell: the server takes the terminal from make
(so Ctrl-C stops it alone), and Ctrl-Z, `fg`, `bg`, `kill %1` and a terminal that closes
still behave as they do for any job: the shell keeps its prompt and its terminal, and the
server is never left stopped or running on its own."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import shutil
import signal
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.test_run import _env, _processes_using
from tests.cli.test_run_stop import ROOT, STOP_BOUND, _assert_quiet, _group, _Pid
from vibetuner.server._net import free_port

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


class _Terminal:
    """An interactive bash with job control on a pseudo-terminal, as a person types into it."""

    def __init__(self) -> None:
        env = {**_env(), "PS1": "$ ", "TERM": "dumb"}
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a session whose controlling terminal is `fd`
            os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"], env)
        self.process = _Pid(self.pid)
        self.data = b""
        self.cursor = 0
        self._wake, self._woken = os.pipe()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.fd, self._wake], [], [])
            if self._wake in ready:
                return
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the terminal's last process is gone
                return
            if not chunk:
                return
            self.data += chunk

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def text(self) -> str:
        return self.data.decode(errors="replace")

    def wait_for(self, text: str) -> None:
        """Until `text` appears after the last text waited for (within STOP_BOUND)."""
        wanted = text.encode()
        assert _happens(lambda: wanted in self.data[self.cursor :], STOP_BOUND), (
            f"no {text!r} after {STOP_BOUND} s:\n{self.text()}"
        )
        self.cursor = self.data.index(wanted, self.cursor) + len(wanted)

    def hang_up(self) -> None:
        """The terminal window closes: its side of the terminal is closed (a read still in
        progress on it would keep it open, so the reader stops first)."""
        if self.fd >= 0:
            os.write(self._woken, b"x")
            self._reader.join(STOP_BOUND)
            os.close(self.fd)
            self.fd = -1

    def close(self) -> None:
        """Kill every job of the shell (its whole session), then the shell."""
        for entry in Path("/proc").iterdir():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[3]) == self.pid:
                    os.kill(int(entry.name), signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(STOP_BOUND)
        self.hang_up()
        os.close(self._wake)
        os.close(self._woken)


@dataclass
class _Demo:
    terminal: _Terminal
    port: int
    launcher: int
    """`vibetuner run dev`'s pid: the leader of the server's process group."""
    database: Path

    def serves(self) -> bool:
        url = f"http://127.0.0.1:{self.port}/health/ping"
        try:
            with urllib.request.urlopen(url, timeout=5) as page:
                return bool(page.status == 200)
        except OSError:
            return False

    def suspended(self) -> bool:
        """Every process of the server's group but its launcher is stopped (state T)."""
        states = {state for pid, state in _states(self.launcher).items() if pid != self.launcher}
        return states == {"T"}

    def gone(self) -> bool:
        return not _group(self.launcher) and not _processes_using(self.database)

    def ctrl_z(self) -> None:
        self.terminal.type(b"\x1a")
        self.terminal.wait_for("Stopped")
        self.terminal.wait_for("$ ")
        _wait_until(self.suspended, "the server's processes to stop")


IGNORES_CTRL_Z = (
    "import signal, subprocess, sys; signal.signal(signal.SIGTSTP, lambda *_: None); "
    "sys.exit(subprocess.call(sys.argv[1:]))"
)
"""A parent job whose leader does not stop on Ctrl-Z (as PID 1 in a container does not),
while the processes it starts do: the handler, unlike SIG_IGN, is not inherited."""


@pytest.fixture
def demo(project: Path, request: pytest.FixtureRequest) -> Iterator[_Demo]:
    """`make demo` typed into an interactive shell, serving. Parametrized indirectly, the
    param is typed first (`stty tostop`) or, when it is IGNORES_CTRL_Z, runs make."""
    (project / ".venv").symlink_to(Path(sys.prefix))
    terminal = _Terminal()
    setup = getattr(request, "param", "")
    try:
        terminal.wait_for("$ ")
        if setup and setup != IGNORES_CTRL_Z:
            terminal.type(f"{setup}\n".encode())
            terminal.wait_for("$ ")
        for _attempt in range(3):  # another test may take the free port first
            demo = _make_demo(terminal, project, setup)
            if demo is not None:
                yield demo
                return
        raise AssertionError(f"no free port in three tries:\n{terminal.text()}")
    finally:
        terminal.close()


def _make_demo(terminal: _Terminal, project: Path, setup: str) -> _Demo | None:
    """`make demo` typed on a free port: the demo once it serves, or None when another
    server took the port first (the message says so, and the shell's prompt is back)."""
    port = free_port()
    make = f"make -C {ROOT} -o demo-app demo DEMO={project} DEMO_PORT={port}"
    if setup == IGNORES_CTRL_Z:
        make = f"{sys.executable} -c '{IGNORES_CTRL_Z}' {make}"
    terminal.type(f"{make}\n".encode())
    terminal.wait_for(make[-20:])  # the command's echo
    demo, after = _Demo(terminal, port, 0, project / ".vibetuner" / "db"), terminal.cursor
    ended = _happens(lambda: demo.serves() or b"$ " in terminal.data[after:], 60)
    assert ended, f"`make demo` did not serve in 60 s:\n{terminal.text()}"
    if not demo.serves():
        assert "already in use" in terminal.text()[after:], terminal.text()
        terminal.wait_for("$ ")
        return None
    demo.launcher = _server_launcher(port)
    return demo


def test_ctrl_z_suspends_the_job_and_fg_or_bg_resumes_it(demo: _Demo) -> None:
    """Ctrl-Z must suspend make's job too, or the shell waits on a make that never stops and
    the terminal is locked. `bg` and `fg` resume the server, and Ctrl-C after `fg` still
    stops it alone and cleanly."""
    terminal = demo.terminal
    for resume in (b"fg", b"bg"):
        demo.ctrl_z()
        terminal.type(resume + b"\n")
        if resume == b"bg":
            terminal.wait_for("$ ")
            assert demo.serves(), terminal.text()
            # A SIGTSTP that is not the terminal's (the server runs in the background)
            # must not take the terminal from the shell to suspend make's job.
            shell = os.tcgetpgrp(terminal.fd)
            os.kill(demo.launcher, signal.SIGTSTP)
            assert not _happens(lambda s=shell: os.tcgetpgrp(terminal.fd) != s, within=1.0)
            assert demo.serves(), terminal.text()
            terminal.type(b"fg\n")
        _wait_until(lambda: os.tcgetpgrp(terminal.fd) == demo.launcher, "the server's terminal")
        assert demo.serves(), terminal.text()
    terminal.type(b"\x03")  # Ctrl-C
    terminal.wait_for("$ ")
    terminal.type(b"echo status=$?\n")
    terminal.wait_for("status=0")
    assert "make: ***" not in terminal.text()
    _assert_quiet(terminal.text())
    assert demo.gone()
    terminal.type(b"exit\n")
    assert terminal.process.wait(STOP_BOUND) == 0


@pytest.mark.parametrize("resumed", [False, True], ids=["suspended", "in-the-background"])
def test_kill_on_the_job_stops_the_server_and_leaves_the_shell_its_terminal(
    demo: _Demo, resumed: bool
) -> None:
    """`kill %1` on the suspended (or `bg`) job: the server stops, its workers included, and
    the shell keeps the terminal (a launcher that handed it to make's dead group on its way
    out made bash exit)."""
    terminal = demo.terminal
    demo.ctrl_z()
    if resumed:
        terminal.type(b"bg\n")
        terminal.wait_for("$ ")
        _wait_until(lambda: not demo.suspended(), "the server to run in the background")
    shell = os.tcgetpgrp(terminal.fd)
    terminal.type(b"kill %1\n")
    _wait_until(demo.gone, "the server to stop")
    terminal.type(b"echo alive\n")
    terminal.wait_for("alive")
    assert terminal.process.poll() is None, terminal.text()
    assert os.tcgetpgrp(terminal.fd) == shell


@pytest.mark.parametrize("suspended", [False, True], ids=["running", "suspended"])
def test_a_job_killed_outright_does_not_leave_the_server_running(
    demo: _Demo, suspended: bool
) -> None:
    """`kill -9` on make's job: make dies without passing anything on, and the server, in a
    group of its own, would serve on with no terminal and keep its port. It sees its parent
    go and stops; the shell keeps its terminal."""
    terminal = demo.terminal
    if suspended:
        demo.ctrl_z()
        terminal.type(b"kill -9 %1\n")
    else:  # from another terminal: this shell has none to type into while make runs
        parent = int(Path(f"/proc/{demo.launcher}/stat").read_text().rsplit(") ", 1)[1].split()[1])
        os.killpg(os.getpgid(parent), signal.SIGKILL)
    _wait_until(demo.gone, "the server to stop")
    terminal.type(b"echo alive\n")
    terminal.wait_for("alive")
    assert terminal.process.poll() is None, terminal.text()
    assert os.tcgetpgrp(terminal.fd) == os.getpgid(terminal.pid)


def test_a_suspended_server_stops_promptly_when_told_to(demo: _Demo) -> None:
    """SIGTERM to the launcher of a suspended server: its stopped workers are continued so
    that they can stop, instead of being killed at the shutdown timeout."""
    demo.ctrl_z()
    os.kill(demo.launcher, signal.SIGTERM)
    _wait_until(demo.gone, "the server to stop")
    _assert_quiet(demo.terminal.text())


def test_a_terminal_closed_on_a_suspended_server_stops_it(demo: _Demo) -> None:
    """The window closes while the job is suspended: the server stops, as it would have in
    the foreground, instead of leaving its workers stopped for good."""
    demo.ctrl_z()
    demo.terminal.hang_up()
    _wait_until(demo.gone, "the server to stop")


def _states(pgid: int) -> dict[int, str]:
    """The scheduler state (R, S, T...) of each live process in group `pgid`."""
    states = {}
    for pid in _group(pgid):
        with contextlib.suppress(OSError, IndexError):
            states[pid] = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0]
    return states


def _server_launcher(port: int) -> int:
    """The pid of `vibetuner run dev --port <port>`, the leader of the server's group."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            words = (entry / "cmdline").read_bytes().split(b"\0")
            ours = any(word.endswith(b"vibetuner") for word in words[:2])
            if entry.name.isdigit() and ours and b"run" in words and str(port).encode() in words:
                return int(entry.name)
    raise AssertionError(f"no `vibetuner run dev --port {port}`")


def _happens(condition: Callable[[], bool], within: float) -> bool:
    """Whether `condition` turns true within `within` seconds (for what must not happen)."""
    deadline = threading.Event()
    timer = threading.Timer(within, deadline.set)
    timer.start()
    try:
        while not condition():
            if deadline.wait(0.05):
                return False
        return True
    finally:
        timer.cancel()


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    assert _happens(condition, STOP_BOUND), f"waited {STOP_BOUND} s for {what}"


def test_ctrl_z_during_the_stop_is_ignored(demo: _Demo) -> None:
    """Ctrl-C, then Ctrl-Z while the server stops: the stop goes on (a worker the Ctrl-Z
    stopped would otherwise wait for the kill), and make is not suspended on its way out."""
    terminal = demo.terminal
    terminal.type(b"\x03")
    terminal.type(b"\x1a")
    terminal.wait_for("$ ")
    terminal.type(b"echo status=$?\n")
    terminal.wait_for("status=0")
    assert "+  Stopped" not in terminal.text()  # bash: the job was suspended
    _assert_quiet(terminal.text())
    assert demo.gone()


def test_a_suspended_server_pauses_its_reloader(demo: _Demo, project: Path) -> None:
    """While the job is suspended (say, to edit a file), the launcher pauses too: an edit
    does not reload a server nobody resumed (the stopped worker could not stop, and was
    killed), nor print over the shell. After `fg`, the edit reloads it, quietly."""
    terminal = demo.terminal
    demo.ctrl_z()
    shown = len(terminal.data)
    (project / "src" / "app" / "frontend" / "__init__.py").touch()
    assert not _happens(lambda: len(terminal.data) > shown, within=2.0), terminal.text()
    terminal.type(b"fg\n")
    _wait_until(lambda: os.tcgetpgrp(terminal.fd) == demo.launcher, "the server's terminal")
    _wait_until(demo.serves, "the server to serve")
    terminal.type(b"\x03")
    terminal.wait_for("$ ")
    _assert_quiet(terminal.text())
    assert demo.gone()


@pytest.mark.parametrize("demo", ["stty tostop"], indirect=True)
def test_output_in_the_background_never_stops_the_server(demo: _Demo, project: Path) -> None:
    """With `stty tostop`, output from a background job stops it. The server in the
    background (Ctrl-Z, `bg`) must not be stopped by its own reload's output: nothing
    would continue it, and `fg` would bring back make alone."""
    terminal = demo.terminal
    demo.ctrl_z()
    terminal.type(b"bg\n")
    terminal.wait_for("$ ")
    (project / "src" / "app" / "frontend" / "__init__.py").touch()  # its reload logs
    terminal.wait_for("Started worker")
    assert demo.serves(), terminal.text()
    terminal.type(b"fg\n")
    _wait_until(lambda: os.tcgetpgrp(terminal.fd) == demo.launcher, "the server's terminal")
    assert demo.serves(), terminal.text()
    terminal.type(b"\x03")
    terminal.wait_for("$ ")
    assert demo.gone()


@pytest.mark.parametrize("demo", [IGNORES_CTRL_Z], indirect=True, ids=["ignores-ctrl-z"])
def test_ctrl_z_under_a_parent_that_does_not_stop(demo: _Demo) -> None:
    """The parent's leader ignores Ctrl-Z, its recipe's shell does not: the server comes
    back in the foreground, and the recipe's shell with it, so Ctrl-C still ends it all."""
    terminal = demo.terminal
    terminal.type(b"\x1a")
    _wait_until(demo.suspended, "the server's processes to stop")
    _wait_until(lambda: not demo.suspended(), "the server to come back")
    _wait_until(lambda: os.tcgetpgrp(terminal.fd) == demo.launcher, "the server's terminal")
    assert demo.serves(), terminal.text()
    terminal.type(b"\x03")
    terminal.wait_for("$ ")
    terminal.type(b"echo alive\n")
    terminal.wait_for("alive")
    assert demo.gone()
