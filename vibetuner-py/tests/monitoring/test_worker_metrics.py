"""The job worker's own /metrics listener: a taken port and metrics left off both say so in
one line, never with a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests._scaffold import VIBETUNER, clean_env
from vibetuner.server._net import free_port
from vibetuner.server._process import stop_group
from vibetuner.testing import RedisServer


def _env(redis: RedisServer, port: int, **extra: str) -> dict[str, str]:
    return clean_env(REDIS_URL=redis.url, WORKER_METRICS_PORT=str(port),
                     VIBETUNER_ENV_FILE=os.devnull, **extra)  # fmt: skip


def test_a_taken_port_stops_the_worker_with_one_line(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run([VIBETUNER, "run", "worker"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, env=_env(redis_server, port))  # fmt: skip
    assert done.returncode == 2, done.stderr  # a setting to fix
    assert f"Error: The worker cannot serve /metrics on 127.0.0.1:{port}" in done.stderr
    assert "Fix: Set WORKER_METRICS_PORT to a free port" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_without_metrics_enabled_serves_nothing_and_says_why(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """In prod, metrics stay off until METRICS_TOKEN or METRICS_ALLOW: no listener opens."""
    port = free_port()
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "vibetuner.tasks._worker_main"], cwd=tmp_path,
            env=_env(redis_server, port, ENVIRONMENT="prod"), stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "WORKER_METRICS_PORT is set but metrics are off" not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, "nothing listens"
    finally:
        stop_group(worker)
