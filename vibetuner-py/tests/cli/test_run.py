"""`vibetuner run dev` owns its embedded database: started, reused across reloads, stopped."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from vibetuner.server._net import free_port

VIBETUNER = str(Path(sys.executable).parent / "vibetuner")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ENVIRONMENT")}
    env.pop("PYTHONPATH", None)
    # No slow-query log: a cold createIndexes passes 100 ms on a busy machine, and the tests
    # that read the output for WARNING lines check the stop or the error, not the database.
    env["DB_SLOW_QUERY_MS"] = "0"
    return env


def _http(method: str, url: str, timeout: float = 5) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_ready(base: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            if _http("GET", f"{base}/health/ready", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("server never became ready")


def _processes_using(path: Path) -> list[int]:
    """PIDs whose command line mentions `path` (the embedded server's storage)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(") ", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
        if str(path) in cmdline and "secantus" in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _wait_gone(path: Path, timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _processes_using(path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def start(project: Path) -> Iterator:
    started: list[subprocess.Popen[str]] = []

    def launch(*args: str) -> tuple[subprocess.Popen[str], str]:
        port = free_port()
        process = subprocess.Popen(
            [VIBETUNER, "run", "dev", "--port", str(port), *args],
            cwd=project, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, process)
        return process, base

    yield launch
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
    for pid in _processes_using(project / ".vibetuner" / "db"):
        os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_the_database_and_data_survives(project: Path, start) -> None:
    storage = project / ".vibetuner" / "db"
    process, base = start("--no-reload")
    assert len(_processes_using(storage)) == 1
    assert json.loads(_http("POST", f"{base}/notes")[1]) == {"count": 1}
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0, "the launcher's own stop, not death by the signal"
    assert _wait_gone(storage) == []
    assert (project / ".vibetuner" / "db.log").is_file()

    process, base = start("--no-reload")
    assert json.loads(_http("GET", f"{base}/notes")[1]) == {"count": 1}
    process.send_signal(signal.SIGINT)
    assert process.wait(30) in (0, 130)
    assert _wait_gone(storage) == []


def test_reload_keeps_one_database_and_ctrl_c_leaves_no_orphan(project: Path, start) -> None:
    storage = project / ".vibetuner" / "db"
    process, base = start("--reload")
    hello = _first_event(f"{base}/__vibetuner__/livereload")
    source = project / "src" / "app" / "frontend" / "__init__.py"
    source.write_text(source.read_text() + "\n# touched\n")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            if _first_event(f"{base}/__vibetuner__/livereload") != hello:
                break
        except OSError:
            continue
    else:
        raise AssertionError("the server did not reload")
    _wait_ready(base, process)
    assert len(_processes_using(storage)) == 1
    process.send_signal(signal.SIGINT)
    process.wait(30)
    assert _wait_gone(storage) == []


def test_killed_cli_takes_its_database_and_workers_down(project: Path, start) -> None:
    storage = project / ".vibetuner" / "db"
    process, base = start("--no-reload")
    workers = _children(process.pid)
    assert workers, "granian runs its worker as a child process"
    process.kill()
    process.wait()
    assert _wait_gone(storage) == []
    deadline = time.monotonic() + 15
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers), "orphaned server workers"
    with pytest.raises(OSError):
        _http("GET", f"{base}/health/ping", timeout=1)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and _stat(int(entry.name))[1] == pid:
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return found


def _stat(pid: int) -> tuple[str, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return fields[0], int(fields[1])


def _running(pid: int) -> bool:
    try:
        return _stat(pid)[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_external_database_url_starts_no_embedded_server(
    project: Path, vibetuner_mongo, start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", vibetuner_mongo.url)
    env = {**_env(), "DATABASE_URL": vibetuner_mongo.url}
    port = free_port()
    process = subprocess.Popen(
        [VIBETUNER, "run", "dev", "--no-reload", "--port", str(port)],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process)
        assert _processes_using(project / ".vibetuner" / "db") == []
    finally:
        process.terminate()
        process.wait(30)


def _first_event(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        for raw in response:
            line = raw.decode().strip()
            if line.startswith("data:"):
                return line.removeprefix("data:").strip()
    raise AssertionError("no event")
