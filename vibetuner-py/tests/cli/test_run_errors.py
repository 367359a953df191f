"""`vibetuner run`'s errors are one message naming what to change, with exit code 2: a busy
port, a busy embedded database, every setting prod lacks at once, and a worker's startup
error, which stops the server instead of restarting workers that fail the same way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.cli.test_run import VIBETUNER, _env, _processes_using, _wait_ready
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.server._net import free_port
from vibetuner.server._process import stop_group

STRONG = "Gq2Wm9Lp4Zt7Xr1Vb6Nc3Hd8Jk5Ys0Tf"
TASKS = """
from vibetuner import task


@task
async def summarise() -> None: ...
"""
FAILING_LIFESPAN = """
import contextlib
import os

from vibetuner import create_app
from vibetuner.exceptions import ConfigError


@contextlib.asynccontextmanager
async def lifespan(app):
    with open(os.environ["STARTS_FILE"], "a") as starts:
        starts.write("start\\n")
    raise ConfigError("PAYMENTS_KEY is not set.", fix="Set PAYMENTS_KEY=pk_live_...")
    yield


app = create_app(lifespan=lifespan)
"""


def _cli(
    *args: str, cwd: Path, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VIBETUNER, *args], cwd=cwd, env={**_env(), **env},
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _one_message(result: subprocess.CompletedProcess[str]) -> str:
    """stderr ends with one error (its Error: and Fix: lines); no traceback, ERROR or WARNING
    line anywhere. Returns the error."""
    out = result.stdout + result.stderr
    assert "Traceback" not in out and "ERROR" not in out and "WARNING" not in out, out
    assert result.stderr.count("Error:") == 1, result.stderr
    error = result.stderr[result.stderr.index("Error:") :]
    lines = error.strip().splitlines()
    assert lines[-1].startswith("Fix: ") and error.count("Fix: ") == 1, result.stderr
    assert all(line.startswith("  - ") for line in lines[1:-1]), "one problem a line"
    return error


def _serve_dev(project: Path, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [VIBETUNER, "run", "dev", "--no-reload", "--port", str(port)], cwd=project, env=_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    _wait_ready(f"http://127.0.0.1:{port}", process)
    return process


def _stop(process: subprocess.Popen[str], project: Path) -> None:
    stop_group(process)
    storage = project / ".vibetuner" / "db"
    for pid in _processes_using(storage):
        os.kill(pid, signal.SIGTERM)


def test_second_dev_server_on_the_same_port_names_it(project: Path) -> None:
    port = free_port()
    first = _serve_dev(project, port)
    try:
        second = _cli("run", "dev", "--port", str(port), cwd=project)
        assert second.returncode == 2, second.stderr
        err = _one_message(second)
        assert f"Port {port} on 127.0.0.1 is already in use" in err
        assert f"vibetuner run dev --no-reload --port {port}` (pid {first.pid}" in err
        assert second.stderr.startswith("Error:"), "refused before anything starts"
        assert first.poll() is None, "the first server is untouched"
    finally:
        _stop(first, project)


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("example", "--host example should be an IP address to listen on"),
        ("203.0.113.7", "This machine has no address 203.0.113.7 to listen on."),
    ],
)
def test_a_host_that_cannot_be_listened_on_is_one_message(
    project: Path, host: str, message: str
) -> None:
    """Granian raised `ValueError: invalid IP address syntax` for a name, after the embedded
    database had started, and a Rust error for an address this machine does not have."""
    result = _cli("run", "dev", "--host", host, "--port", str(free_port()), cwd=project)
    assert result.returncode == 2, result.stderr
    assert message in _one_message(result)
    assert result.stderr.startswith("Error:"), "refused before anything starts"


def test_localhost_is_127_0_0_1(project: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [VIBETUNER, "run", "dev", "--no-reload", "--host", "localhost", "--port", str(port)],
        cwd=project, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process)
    finally:
        _stop(process, project)


def test_a_port_taken_after_the_check_is_the_same_message(tmp_path: Path) -> None:
    """Granian's own bind error (a race with the check): the port and its holder, no trace."""
    code = (
        "import socket, sys\n"
        "from vibetuner.config import get_settings\n"
        "from vibetuner.server._granian import serve\n"
        "taken = socket.create_server(('127.0.0.1', 0))\n"
        "port = taken.getsockname()[1]\n"
        "try:\n"
        "    serve('app:app', '127.0.0.1', port, settings=get_settings(), workers=1,\n"
        "          reload=False, command='run dev')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc.message, port, sep='|')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=_env(), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    kind, message, port = result.stdout.strip().splitlines()[-1].split("|")
    assert kind == "ConfigError", result.stdout + result.stderr
    assert message.startswith(f"Port {port} on 127.0.0.1 is already in use by `"), message
    assert f"(pid {os.getpid()}" not in message and "python" in message, "names the holder"


def test_second_dev_server_on_another_port_names_who_holds_the_database(project: Path) -> None:
    port = free_port()
    first = _serve_dev(project, port)
    try:
        second = _cli("run", "dev", "--no-reload", "--port", str(free_port()), cwd=project)
        assert second.returncode == 2, second.stderr
        err = _one_message(second)
        assert f"{project / '.vibetuner' / 'db'} is already open by" in err
        assert f"--port {port}` (pid {first.pid}" in err
        assert "DATABASE_URL=mongodb://127.0.0.1:" in err, "how to share it"
        assert "WiredTiger" not in err and "busy" not in err
    finally:
        _stop(first, project)


def test_prod_names_every_missing_setting_at_once(project: Path) -> None:
    """An app with jobs, without REDIS_URL and BASE_URL: one message naming both."""
    (project / "src" / "app" / "tasks.py").write_text(textwrap.dedent(TASKS))
    result = _cli(
        "run", "prod", cwd=project, ENVIRONMENT="prod", DEBUG="false", SECRET_KEY=STRONG,
        DATABASE_URL=f"mongodb://127.0.0.1:{free_port()}/app", SMTP_HOST="127.0.0.1",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    err = _one_message(result)
    assert "BASE_URL is not set" in err and "REDIS_URL is not set" in err, err
    assert "Fix: Set BASE_URL=https://your-domain, REDIS_URL=redis://host:6379/0" in err
    assert result.stderr.startswith("Error:")


def test_prod_with_redis_down_says_so_before_serving(
    project: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    port = free_port()
    result = _cli(
        "run", "prod", cwd=project, ENVIRONMENT="prod", DEBUG="false", SECRET_KEY=STRONG,
        DATABASE_URL=vibetuner_mongo.url, SMTP_HOST="127.0.0.1",
        BASE_URL="https://app.example.com", REDIS_URL=f"redis://:hunter2@127.0.0.1:{port}/0",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    err = _one_message(result)
    assert f"Cannot reach Redis at REDIS_URL=redis://:***@127.0.0.1:{port}/0" in err
    assert "hunter2" not in err and result.stderr.startswith("Error:")


def test_a_worker_startup_error_stops_the_server_once(
    project: Path, vibetuner_mongo: EmbeddedMongo, tmp_path: Path
) -> None:
    """Both workers fail in the lifespan: the launcher stops them and prints the error once,
    and no worker is started again."""
    (project / "src" / "app" / "frontend" / "__init__.py").write_text(FAILING_LIFESPAN)
    starts = tmp_path / "starts"
    result = _cli(
        "run", "prod", "--workers", "2", "--host", "127.0.0.1", "--port", str(free_port()),
        cwd=project, ENVIRONMENT="prod", DEBUG="false", SECRET_KEY=STRONG,
        DATABASE_URL=vibetuner_mongo.url, SMTP_HOST="127.0.0.1",
        BASE_URL="https://app.example.com", STARTS_FILE=str(starts),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    err = _one_message(result)
    assert "Error: PAYMENTS_KEY is not set." in err and "Fix: Set PAYMENTS_KEY=" in err
    assert "Respawning" not in result.stdout + result.stderr
    assert starts.read_text().splitlines() == ["start", "start"], "one start per worker"


def test_dev_worker_startup_error_is_one_message(project: Path, tmp_path: Path) -> None:
    (project / "src" / "app" / "frontend" / "__init__.py").write_text(FAILING_LIFESPAN)
    result = _cli(
        "run", "dev", "--port", str(free_port()), cwd=project, STARTS_FILE=str(tmp_path / "s")
    )
    assert result.returncode == 2, result.stderr
    assert "Error: PAYMENTS_KEY is not set." in _one_message(result)
    assert _processes_using(project / ".vibetuner" / "db") == []


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('BASE_URL="not a url"', "BASE_URL (.env line 3) should be an absolute http(s) URL"),
        ("ENVIRONMENT=staging", "ENVIRONMENT (.env line 3) should be 'dev' or 'prod'"),
        (
            "SECRET_KEY hunter2hunter2",
            ".env has a line that is not NAME=value: line 3 (SECRET_KEY)",
        ),
        (
            "RATE_LIMIT_LOGIN_IP=5 per minute",
            'RATE_LIMIT_LOGIN_IP (.env line 3) should be "<limit>/',
        ),
    ],
)
def test_bad_env_lines_are_named_before_anything_starts(
    project: Path, line: str, said: str
) -> None:
    (project / ".env").write_text(f"DEBUG=true\nPROJECT_NAME=Lifecycle\n{line}\n")
    for command in (["run", "dev", "--port", str(free_port())], ["doctor"]):
        result = _cli(*command, cwd=project)
        assert result.returncode == 2, result.stderr
        err = _one_message(result)
        assert said in err, err
        assert "hunter2" not in err
    assert _processes_using(project / ".vibetuner" / "db") == []
