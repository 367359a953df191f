"""What the scaffold tests share: a clean environment, commands that must succeed, a prod boot."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.server._net import free_port
from vibetuner.server._process import stop_group

VIBETUNER = str(Path(sys.executable).parent / "vibetuner")
ROOT = Path(__file__).resolve().parents[2]
DATABASE = "app"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what would point a generated app at our venv or settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    for name in ("DATABASE_URL", "ENVIRONMENT", "SECRET_KEY", "DEBUG", "PROJECT_ROOT",
                 "REDIS_URL", "VIBETUNER_ENV_FILE"):  # fmt: skip
        env.pop(name, None)
    return {**env, **extra}


def run(command: list[str], cwd: Path, timeout: float = 600, **env: str) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def prod_recipe(app_dir: Path) -> dict[str, str]:
    """The settings the app's justfile `prod` recipe gives `vibetuner run prod` (its one line)."""
    justfile = (app_dir / "justfile").read_text()
    found = re.search(r"^prod:\n((?:[ \t]+\S.*\n)+)", justfile, re.M)
    assert found, "the justfile has a prod recipe"
    lines = found.group(1).strip().splitlines()
    assert len(lines) == 1, f"one command: {lines}"
    words = shlex.split(lines[0])
    env = dict(w.split("=", 1) for w in itertools.takewhile(lambda w: "=" in w, words))
    command = words[len(env) :]
    assert Path(command[0]).name == "vibetuner" and command[1:] == ["run", "prod"], command
    return env


@contextmanager
def serving_prod(
    app_dir: Path, vibetuner: str, workdir: Path, **env: str
) -> Iterator[tuple[str, EmbeddedMongo]]:
    """`vibetuner run prod` for `app_dir` on a free port with a fresh database; yields its URL.

    It runs as the justfile's prod recipe runs it (whose settings override the app's own
    .env, which says dev), with the settings prod asks for. Given a REDIS_URL, a
    `vibetuner run worker` runs beside it.
    """
    mongo = EmbeddedMongo(workdir / "db")
    mongo.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    defaults = {
        **prod_recipe(app_dir),
        "FORCE_HTTPS": "false",  # loopback HTTP here; behind a proxy prod redirects to HTTPS
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": f"mongodb://127.0.0.1:{mongo.port}/{DATABASE}",
        "BASE_URL": base,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(free_port()),
        "SMTP_SECURITY": "none",
        "MAIL_FROM": "Tests <no-reply@tests.test>",
    }
    settings = clean_env(**{**defaults, **env})
    server = subprocess.Popen(
        [vibetuner, "run", "prod", "--workers", "1", "--host", "127.0.0.1", "--port", str(port)],
        cwd=app_dir, env=settings, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # With Redis, queued work (sign-in emails too) runs on a worker, as in production.
    worker = subprocess.Popen(
        [vibetuner, "run", "worker"], cwd=app_dir, env=settings, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ) if "REDIS_URL" in env else None  # fmt: skip
    try:
        _wait_for_ping(server, base)
        yield base, mongo
    finally:
        for process in (server, worker):
            if process is not None:
                _stop(process)
        mongo.stop()


@contextmanager
def serving_dev(app_dir: Path, vibetuner: str) -> Iterator[str]:
    """`vibetuner run dev` for `app_dir` on a free port, on its embedded defaults."""
    port = free_port()
    server = subprocess.Popen(
        [vibetuner, "run", "dev", "--port", str(port)], cwd=app_dir, env=clean_env(),
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_ping(server, base)
        yield base
    finally:
        _stop(server)


def _wait_for_ping(server: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        try:
            if httpx.get(f"{base}/health/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{server.args} never answered"
        time.sleep(0.1)


def _stop(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    stop_group(process)
