"""Start, watch and stop child processes; every one lives in its own process group."""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class RunFailed(RuntimeError):
    """Something the benchmark needs could not be started or measured."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    started_at: float

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Processes:
    """Registry of everything we launched, so cleanup can always reach it."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._children: list[Child] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str] | None = None,
    ) -> Child:
        log_path = self.log_dir / f"{name}-{len(self._children)}.log"
        with log_path.open("wb") as log:
            started_at = time.perf_counter()
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(name, proc, log_path, started_at)
        self._children.append(child)
        return child

    def stop(self, child: Child, grace: float = 10.0) -> None:
        _signal_group(child.proc, signal.SIGTERM)
        try:
            child.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        # The group may still hold workers even after the leader exited.
        _signal_group(child.proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.proc.wait(timeout=5)
        if child in self._children:
            self._children.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self._children)):
            self.stop(child)

    def terminate_all(self, grace: float = 15.0) -> None:
        """SIGTERM every launcher at once (not its group: launchers stop their own
        workers), wait for them together, then clean up whatever is left."""
        for child in self._children:
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self._children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        self.stop_all()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # start_new_session=True makes the child's pid its process-group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def wait_ready(child: Child, port: int, path: str, timeout: float) -> float:
    """Poll `path` every ~10 ms; return seconds from launch to the first 200."""
    deadline = child.started_at + timeout
    while time.perf_counter() < deadline:
        if http_status(port, path, timeout=0.5) == 200:
            return time.perf_counter() - child.started_at
        if child.proc.poll() is not None:
            raise RunFailed(
                f"{child.name} exited with {child.proc.returncode}:\n{child.log_tail()}"
            )
        time.sleep(0.01)
    raise RunFailed(
        f"{child.name} gave no 200 on {path} in {timeout:.0f} s:\n{child.log_tail()}"
    )


def wait_tcp(child: Child, port: int, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), 0.5),
        ):
            return
        if child.proc.poll() is not None:
            raise RunFailed(
                f"{child.name} exited with {child.proc.returncode}:\n{child.log_tail()}"
            )
        time.sleep(0.05)
    raise RunFailed(f"{child.name} did not accept TCP on {port} in {timeout:.0f} s")
