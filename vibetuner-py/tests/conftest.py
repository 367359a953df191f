"""Shared fixtures: isolated settings, and real servers (SecantusDB, redis-server) on free ports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vibetuner.config import reset_settings
from vibetuner.embedded import free_port

_SETTING_VARS = (
    "DATABASE_URL", "DATABASE_NAME", "REDIS_URL", "SECRET_KEY", "ENVIRONMENT", "DEBUG",
    "PROJECT_ROOT", "PROJECT_NAME", "SESSION_MAX_AGE", "VIBETUNER_ENV_FILE",
)  # fmt: skip


_LOCK = Path(__file__).resolve().parents[1] / "constraints.txt"


def pytest_configure(config: pytest.Config) -> None:
    """Apps the tests generate resolve as of the lock's date, as `make test` exports it."""
    found = re.search(r"--exclude-newer (\S+)", _LOCK.read_text())
    if found:
        os.environ.setdefault("UV_EXCLUDE_NEWER", found[1])
        os.environ.setdefault("npm_config_before", found[1])


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """A clean environment: no settings variables, no .env, project root in tmp_path."""
    for name in _SETTING_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIBETUNER_ENV_FILE", str(tmp_path / "missing.env"))
    monkeypatch.setenv("PROJECT_ROOT", str(tmp_path))
    reset_settings()
    _reset_caches()
    yield monkeypatch
    reset_settings()
    _reset_caches()


def _reset_caches() -> None:
    from vibetuner.frontend import templating

    templating.get_templates.cache_clear()
    templating.get_statics.cache_clear()


class RedisServer:
    def __init__(self, workdir: Path, *, password: str | None = None) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.password = password
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._auth = ("--requirepass", password) if password else ()
        self._cli = ["redis-cli", "-p", str(self.port), *(("-a", password) if password else ())]

    def start(self) -> None:
        subprocess.run(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "yes",
             "--pidfile", str(self.workdir / "redis.pid"), *self._auth],
            check=True, capture_output=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ping = subprocess.run([*self._cli, "ping"], capture_output=True, text=True)
            if ping.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        subprocess.run([*self._cli, "shutdown", "nosave"], capture_output=True)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free port (make test installs it; skipped elsewhere)."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed; `make test` installs it as root")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
