"""SIGTERM on a real `vibetuner run prod`: readiness turns 503 first while liveness stays 200,
the request in flight finishes, and the server exits by itself once the drain is over.
This is the order Kubernetes and load balancers need (a liveness failure would kill the pod)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import APP as CLI_APP
from tests.cli.test_run import VIBETUNER
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.server._net import free_port
from vibetuner.server._process import stop_group
from vibetuner.testing._live import server_env

APP = """
import asyncio
import os
from pathlib import Path

from fastapi import APIRouter
from vibetuner.frontend import create_app

router = APIRouter()


@router.get("/slow")
async def slow() -> dict[str, str]:
    started = Path(os.environ["SLOW_STARTED"])
    started.touch()
    release = Path(os.environ["SLOW_RELEASE"])
    while not release.exists():
        await asyncio.sleep(0.02)
    return {"status": "finished"}


app = create_app(routers=[router])
"""
DRAIN_SECONDS = 10
"""Long enough to look at both probes on a busy machine; the test releases the slow request
and then waits for the exit, which comes once this drain (and the request) is over."""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    started: Path
    release: Path
    log: Path


def _launch(
    tmp_path: Path, mongo: EmbeddedMongo, app: str, database: str,
    *, preexec: Callable[[], None] | None = None, **settings: str,
) -> tuple[subprocess.Popen[bytes], int, Path]:  # fmt: skip
    """`vibetuner run prod`, one worker, serving `app` as app.frontend; its output in a log."""
    (tmp_path / "src" / "app").mkdir(parents=True, exist_ok=True)
    (tmp_path / "src" / "app" / "__init__.py").write_text("")
    (tmp_path / "src" / "app" / "frontend.py").write_text(textwrap.dedent(app))
    port, log = free_port(), tmp_path / "server.log"
    env = server_env(
        ENVIRONMENT="prod", DEBUG="false", SECRET_KEY="q8Vn2Lr5Xw9Zt1Kb7Hd3Jm6Pc4Sf0Gy-Ua_Eo",
        DATABASE_URL=f"mongodb://{mongo.host}:{mongo.port}/{database}",
        BASE_URL=f"http://127.0.0.1:{port}", FORCE_HTTPS="false", SMTP_HOST="127.0.0.1",
        PROJECT_ROOT=str(tmp_path), DB_SLOW_QUERY_MS="0", **settings,
    )  # fmt: skip  # no slow-query log: the tests read the log for WARNING lines
    command = [VIBETUNER, "run", "prod", "--workers", "1", "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=preexec,
        )  # fmt: skip
    return process, port, log


@pytest.fixture
def prod_server(tmp_path: Path, vibetuner_mongo: EmbeddedMongo) -> Iterator[Server]:
    started, release = tmp_path / "started", tmp_path / "release"
    process, port, log = _launch(
        tmp_path, vibetuner_mongo, APP, "drain", SERVER_DRAIN_SECONDS=str(DRAIN_SECONDS),
        SLOW_STARTED=str(started), SLOW_RELEASE=str(release),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    server = Server(process, base, started, release, log)
    try:
        _until(lambda: _status(f"{base}/health/ready") == 200, server, "never became ready")
        yield server
    finally:
        stop_group(process)


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def _until(
    condition: Callable[[], bool], server: Server, what: str, timeout: float = 60,
    *, running: bool = True,
) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while not condition():
        assert not running or server.process.poll() is None, server.log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{what}:\n{server.log.read_text()[-3000:]}"
        time.sleep(0.05)


def _sigterm_until_exit(server: Server) -> None:
    """SIGTERM to the launcher, as a supervisor sends it; back once the server has exited."""
    server.process.send_signal(signal.SIGTERM)
    exited = lambda: server.process.poll() is not None  # noqa: E731
    _until(exited, server, "never exited", 60, running=False)


def test_sigterm_turns_ready_503_while_ping_stays_200_and_in_flight_work_finishes(
    prod_server: Server,
) -> None:
    server = prod_server
    answers: list[httpx.Response] = []
    in_flight = threading.Thread(
        target=lambda: answers.append(httpx.get(f"{server.base}/slow", timeout=60)), daemon=True
    )
    in_flight.start()
    _until(server.started.exists, server, "the slow request never started")

    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    _until(lambda: _status(f"{server.base}/health/ready") == 503, server, "ready stayed 200")
    ready = httpx.get(f"{server.base}/health/ready", timeout=2)
    ping = httpx.get(f"{server.base}/health/ping", timeout=2)
    assert time.monotonic() - signalled < DRAIN_SECONDS, "looked at the probes after the drain"
    assert server.process.poll() is None, "still running while it drains"
    assert ready.status_code == 503 and ready.json() == {"status": "draining"}
    assert ping.status_code == 200 and ping.json() == {"status": "ok"}, "liveness stays 200"
    assert not answers, "the in-flight request is still being served"

    server.release.touch()
    in_flight.join(30)
    assert answers and answers[0].status_code == 200, "the in-flight request finished"
    assert answers[0].json() == {"status": "finished"}
    exited = lambda: server.process.poll() is not None  # noqa: E731
    _until(exited, server, "never exited", DRAIN_SECONDS + 40, running=False)
    assert server.process.returncode == 0, server.log.read_text()[-3000:]
    assert "Traceback" not in server.log.read_text()


SLOW_IMPORT = """
import os
import time
from pathlib import Path

Path(os.environ["IMPORTING"]).write_text(str(os.getpid()))
deadline = time.monotonic() + 30
while not Path(os.environ["RELEASE"]).exists() and time.monotonic() < deadline:
    time.sleep(0.02)  # the test never releases it: it is stopped while it waits

from vibetuner.frontend import create_app

Path(os.environ["IMPORTED"]).touch()
app = create_app()
"""


def test_a_worker_stopped_while_it_imports_the_app_stops_at_once(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    """Until Granian's worker code sets its own signal handlers, a forked worker has the
    launcher's: SIGTERM there only flagged the launcher's copy, so the worker served on and
    was killed SERVER_SHUTDOWN_TIMEOUT later, with a WARNING (a worker whose neighbour
    failed at startup was stopped this way)."""
    importing, imported = tmp_path / "importing", tmp_path / "imported"
    release = tmp_path / "release"
    process, port, log = _launch(
        tmp_path, vibetuner_mongo, SLOW_IMPORT, "early_stop", SERVER_DRAIN_SECONDS="0",
        SERVER_SHUTDOWN_TIMEOUT="5", IMPORTING=str(importing), IMPORTED=str(imported),
        RELEASE=str(release),
    )  # fmt: skip
    server = Server(process, f"http://127.0.0.1:{port}", importing, release, log)
    try:
        _until(importing.exists, server, "the worker never began importing the app")
        _until(lambda: importing.read_text().isdigit(), server, "no worker pid")
        worker = int(importing.read_text())
        assert worker != process.pid, "the worker imports the app, not the launcher"
        _sigterm_until_exit(server)
    finally:
        stop_group(process)
    out = log.read_text()
    assert process.returncode == 0, out[-3000:]
    assert "WARNING" not in out and "Killing" not in out and "Traceback" not in out, out
    assert not imported.exists(), "the worker stopped while importing, not after serving"
    assert not Path(f"/proc/{worker}").exists(), "the worker is gone"


def _hold(port: int, path: str) -> socket.socket:
    """A client that reads the response's headers, then nothing more."""
    client = socket.create_connection(("127.0.0.1", port), timeout=30)
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += client.recv(1)
    assert head.startswith(b"HTTP/1.1 200"), head
    return client


@pytest.mark.parametrize("metrics_port", [False, True], ids=["", "metrics-port"])
def test_clients_that_stop_reading_are_reset_before_the_kill(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo, metrics_port: bool
) -> None:
    """A download nobody reads (a file Granian sends itself, or an app's own stream: the CLI
    tests' app serves both) held
    the stop until SERVER_SHUTDOWN_TIMEOUT killed the worker, with a WARNING and without
    the app's shutdown. Just before the kill, what is left is reset: the worker stops by
    itself, within the same grace period. With METRICS_PORT, the worker listens there too,
    until its shutdown: the server's own port is the one whose close begins the stop."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1024) * 32 * 1024)  # 32 MB: more than the socket buffers
    metrics = {"METRICS_PORT": str(free_port()), "METRICS_TOKEN": "t" * 32} if metrics_port else {}
    process, port, log = _launch(
        tmp_path, vibetuner_mongo, CLI_APP, "held", SERVER_DRAIN_SECONDS="0.5",
        SERVER_SHUTDOWN_TIMEOUT="6", BIG_FILE=str(big), **metrics,
    )  # fmt: skip
    server = Server(process, f"http://127.0.0.1:{port}", big, big, log)
    held: list[socket.socket] = []
    try:
        _until(lambda: _status(f"{server.base}/health/ready") == 200, server, "never ready")
        if metrics:  # the second listener this case is about is there
            scrape = f"http://127.0.0.1:{metrics['METRICS_PORT']}/metrics"
            assert _status(scrape) == 401, "METRICS_PORT answers (a token is required)"
        held = [_hold(port, "/download"), _hold(port, "/file")]
        _sigterm_until_exit(server)
    finally:
        for client in held:
            client.close()
        stop_group(process)
    out = log.read_text()
    assert process.returncode == 0, out[-3000:]
    assert "Killing" not in out and "WARNING" not in out and "Traceback" not in out, out
    assert "Reset 2 client connection(s) still open as the stop ends" in out, out


HANGING_SHUTDOWN = """
import asyncio
import contextlib

from vibetuner.frontend import create_app


@contextlib.asynccontextmanager
async def hang(app):
    yield
    await asyncio.sleep(120)  # a shutdown that never ends: only the kill stops this worker


app = create_app(lifespan=hang)
"""


def test_a_worker_that_does_not_stop_is_killed_and_reported(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    """The kill that SERVER_SHUTDOWN_TIMEOUT promises still comes, reported as a WARNING, now
    that reports of workers that had already stopped by themselves are dropped (a busy
    machine's false 'refused to gracefully stop'); it says when it came."""
    process, port, log = _launch(
        tmp_path, vibetuner_mongo, HANGING_SHUTDOWN, "hanging", SERVER_DRAIN_SECONDS="0",
        SERVER_SHUTDOWN_TIMEOUT="2",
    )  # fmt: skip
    server = Server(process, f"http://127.0.0.1:{port}", log, log, log)
    try:
        _until(lambda: _status(f"{server.base}/health/ready") == 200, server, "never ready")
        _sigterm_until_exit(server)
    finally:
        stop_group(process)
    out = log.read_text()
    report = r"\[WARNING\] Killing worker-1 after it refused to gracefully stop \((\d+) s into"
    found = re.search(report, out)
    assert found and int(found[1]) >= 2, out
