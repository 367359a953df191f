"""A clean stop: Ctrl-C or SIGTERM on `vibetuner run dev`, with a page's live-reload stream
open, exits 0 (or 130) promptly, prints no ERROR or WARNING line and leaves no process
behind; `make demo` in a terminal ends the same way, without a `make: ***` line."""

from __future__ import annotations

import contextlib
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_run import VIBETUNER, _env, _processes_using, _wait_ready
from vibetuner.server._net import free_port
from vibetuner.server._process import stop_group

ROOT = Path(__file__).resolve().parents[3]
STOP_BOUND = 20
"""Seconds: a liveness bound, well below Granian's 30 s kill timeout that a held stream hit."""


def _group(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def _ignores_sigint(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False


def _open_live_reload(port: int) -> socket.socket:
    """A browser tab's live-reload stream: connected, its first event received."""
    stream = socket.create_connection(("127.0.0.1", port), timeout=10)
    stream.sendall(
        f"GET /__vibetuner__/livereload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    )
    received = b""
    while b"event: hello" not in received:
        chunk = stream.recv(4096)
        assert chunk, f"the stream closed early: {received!r}"
        received += chunk
    return stream


class Output:
    """Everything a process writes to one pipe or terminal, read on a thread."""

    def __init__(self, fd: int) -> None:
        self.data = b""
        self.thread = threading.Thread(target=self._read, args=(fd,), daemon=True)
        self.thread.start()

    def _read(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's last process is gone
                return
            if not chunk:
                return
            self.data += chunk

    def text(self) -> str:
        self.thread.join(STOP_BOUND)
        return self.data.decode(errors="replace")


@pytest.fixture
def dev_server(project: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Output]]:
    """`vibetuner run dev` (with reload) in a process group of its own, as a terminal's job."""
    port = free_port()
    read, write = os.pipe()
    process = subprocess.Popen(
        [VIBETUNER, "run", "dev", "--port", str(port)], cwd=project, env=_env(),
        stdout=write, stderr=write, start_new_session=True,
    )  # fmt: skip
    os.close(write)
    output = Output(read)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process)  # type: ignore[arg-type]
        yield process, port, output
    finally:
        stop_group(process)
        os.close(read)


def _stopped(process: subprocess.Popen[bytes], output: Output, project: Path) -> int:
    """The exit code, within STOP_BOUND; otherwise a failure that shows how far the stop got:
    the output so far, what each process left in the group is doing, and the embedded
    database's log."""
    try:
        return process.wait(STOP_BOUND)
    except subprocess.TimeoutExpired:
        left = []
        database = project / ".vibetuner" / "db"
        for pid in sorted({*_group(process.pid), *_processes_using(database)}):
            with contextlib.suppress(OSError):
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                threads = sorted(
                    f"{(task / 'comm').read_text().strip()}:{(task / 'wchan').read_text()}"
                    for task in Path(f"/proc/{pid}/task").iterdir()
                )  # fmt: skip
                left.append(f"{pid} {command.decode(errors='replace')} {threads}")
        text = output.data.decode(errors="replace")
        db_log = project / ".vibetuner" / "db.log"
        log = db_log.read_text(errors="replace")[-3000:] if db_log.exists() else ""
        raise AssertionError(f"still running after {STOP_BOUND} s:\n" + "\n".join(left)
                             + f"\n{text}\n{db_log}:\n{log}") from None  # fmt: skip


def _assert_quiet(text: str) -> None:
    for word in ("ERROR", "WARNING", "Traceback", "Killing"):
        assert word not in text, text


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "hangup"])
def test_stop_with_the_live_reload_stream_open(
    dev_server: tuple[subprocess.Popen[bytes], int, Output], project: Path, how: str
) -> None:
    process, port, output = dev_server
    stream = _open_live_reload(port)
    storage = project / ".vibetuner" / "db"
    assert len(_processes_using(storage)) == 1
    workers = [pid for pid in _group(process.pid) if pid != process.pid]
    assert workers, "Granian's worker runs in the launcher's group"
    # Ctrl-C reaches the whole group; a worker that stopped by itself before its launcher
    # stopped it would be reported as "[ERROR] Unexpected exit from worker-1".
    assert all(_ignores_sigint(pid) for pid in workers), "workers leave Ctrl-C to the launcher"
    if how == "ctrl-c":
        os.killpg(process.pid, signal.SIGINT)  # what a terminal does: the whole group
    elif how == "hangup":
        # A terminal that closes hangs up its foreground group: Granian's launcher took SIGHUP
        # as "respawn the workers" and served on, and the workers died of it, noisily.
        os.killpg(process.pid, signal.SIGHUP)
    else:
        process.send_signal(signal.SIGTERM)  # what a supervisor does: the launcher
    code = _stopped(process, output, project)
    stream.close()
    assert code in (0, 130), output.text()
    _assert_quiet(output.text())
    assert _group(process.pid) == [], "no worker (nor anything else) is left in its group"
    assert _processes_using(storage) == [], "the embedded database stopped, not killed"
    assert (project / ".vibetuner" / "db.log").read_text().count("Traceback") == 0


def test_stop_with_a_download_nobody_reads(
    dev_server: tuple[subprocess.Popen[bytes], int, Output], project: Path
) -> None:
    """A client that stopped reading a download held Ctrl-C until the 30 s kill; what still
    holds a connection DEV_RESET_SECONDS into a development stop is reset."""
    process, port, output = dev_server
    download = socket.create_connection(("127.0.0.1", port), timeout=10)
    download.sendall(f"GET /download HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert download.recv(12) == b"HTTP/1.1 200"  # and nothing more is read
    os.killpg(process.pid, signal.SIGINT)
    code = _stopped(process, output, project)
    download.close()
    assert code in (0, 130), output.text()
    _assert_quiet(output.text())
    assert _group(process.pid) == []


def test_a_reload_drains_the_old_worker_only(
    dev_server: tuple[subprocess.Popen[bytes], int, Output], project: Path
) -> None:
    """An open tab's stream ends at once when the code changes (no 30 s wait for the old
    worker), and the new worker serves undrained."""
    process, port, output = dev_server
    stream = _open_live_reload(port)
    source = project / "src" / "app" / "frontend" / "__init__.py"
    source.write_text(source.read_text() + "\n# touched\n")
    stream.settimeout(STOP_BOUND)
    while stream.recv(4096):  # the old worker drains: its stream ends
        pass
    stream.close()
    _wait_ready(f"http://127.0.0.1:{port}", process)  # type: ignore[arg-type]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=5) as ready:
        assert ready.status == 200, "the new worker is not draining"
    _open_live_reload(port).close()
    _assert_quiet(output.data.decode(errors="replace"))


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_ctrl_c_on_make_demo_in_a_terminal(project: Path) -> None:
    """In a real terminal Ctrl-C reaches make too, which then reports `make: *** [demo]
    Interrupt` however cleanly the server stopped, unless the server takes the terminal."""
    (project / ".venv").symlink_to(Path(sys.prefix))
    port = free_port()
    command = ["make", "-C", str(ROOT), "-o", "demo-app", "demo",
               f"DEMO={project}", f"DEMO_PORT={port}"]  # fmt: skip
    pid, terminal = pty.fork()
    if pid == 0:  # the child: a session whose controlling terminal is `terminal`
        os.execvpe(command[0], command, _env())
    output = Output(terminal)
    process = _Pid(pid)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process)  # type: ignore[arg-type]
        stream = _open_live_reload(port)
        os.write(terminal, b"\x03")  # Ctrl-C, as typed
        code = process.wait(STOP_BOUND)
        stream.close()
        text = output.text()
        assert code == 0, text
        assert "make: ***" not in text
        _assert_quiet(text)
        assert _processes_using(project / ".vibetuner" / "db") == []
    finally:
        if process.poll() is None:
            os.killpg(pid, signal.SIGKILL)
            process.wait(STOP_BOUND)
        os.close(terminal)


class _Pid:
    """The little of Popen's interface that `_wait_ready` and this test use, for a pid."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stderr = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return self.returncode
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float) -> int:
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while self.poll() is None:
                assert not deadline.wait(0.05), f"pid {self.pid} still runs after {timeout} s"
        finally:
            timer.cancel()
        assert self.returncode is not None
        return self.returncode
