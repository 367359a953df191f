"""A production-shaped cluster on one machine, as plain processes.

One SecantusDB, one redis-server, an SMTP sink, N `vibetuner run prod` instances, one
job worker, and Caddy in front (TLS with its internal CA, round robin, health checks).
Every process lives in its own process group, registered with `bench._procs`, so
`stop()` reaches all of them whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx
from vibetuner.server._process import Started
from vibetuner.testing._mail import SMTPSink

from bench import _mongo, _redis
from bench._procs import Child, Processes, RunFailed, free_port, http_status
from scale._caddy import Caddy

PING = "/health/ping"
FORWARDED_HTTPS = {"X-Forwarded-Proto": "https"}
"""Direct hits on an instance pose as the proxy (TRUSTED_PROXIES=127.0.0.1)."""


@dataclass
class Instance:
    """One `vibetuner run prod` on a port that stays the same across restarts."""

    index: int
    port: int
    child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster(Started):
    """Start with `with Cluster(app_dir, workdir) as cluster:`; everything stops on exit."""

    app_dir: Path
    workdir: Path
    instances: int = 3
    workers: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    startup_timeout: float = 90.0

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.procs = Processes(self.workdir)
        self.nodes = [Instance(i, free_port()) for i in range(self.instances)]
        self.smtp = SMTPSink()
        self.caddy = Caddy(self.workdir / "caddy", [n.port for n in self.nodes])
        self.env: dict[str, str] = {}
        self.db_url = ""
        self.db: Child | None = None
        self.redis: Child | None = None
        self.jobs: Child | None = None

    @property
    def lb_url(self) -> str:
        return self.caddy.url

    @property
    def ca_file(self) -> Path:
        return self.caddy.root_certificate

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def client(self, **options: object) -> httpx.Client:
        """An HTTPS client for the load balancer, trusting Caddy's internal CA."""
        return httpx.Client(
            base_url=self.lb_url,
            verify=self.tls(),
            timeout=15,
            **options,  # type: ignore[arg-type]
        )

    def _bin(self, name: str) -> str:
        return str(self.app_dir / ".venv" / "bin" / name)

    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        storage = self.workdir / "db"
        storage.mkdir(exist_ok=True)
        self.db, db_base = _mongo.start(self.procs, Path(self._bin("python")), storage)
        self.db_url = f"{db_base}/scale"
        self.redis, redis_url = _redis.start(self.procs, self.workdir)
        self.smtp.start()
        self.env = {
            "ENVIRONMENT": "prod",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": self.db_url,
            "REDIS_URL": redis_url,
            "BASE_URL": self.caddy.url,
            "TRUSTED_PROXIES": '["127.0.0.1"]',
            "EMAIL_PROVIDER": "smtp",
            "SMTP_HOST": self.smtp.host,
            "SMTP_PORT": str(self.smtp.port),
            "SMTP_SECURITY": "none",
            "MAIL_FROM": "scale@example.com",
            "RATE_LIMIT_LOGIN_IP": "100000/minute",  # every test client is 127.0.0.1
            "LOG_LEVEL": "WARNING",
            "VIBETUNER_ENV_FILE": str(self.workdir / "no.env"),
            **self.extra_env,
        }
        for node in self.nodes:
            self.start_instance(node.index, wait=False)
        self.jobs = self.procs.start(
            "worker",
            [self._bin("vibetuner"), "run", "worker"],
            cwd=self.app_dir,
            env=self.env,
        )
        for node in self.nodes:
            self.wait_healthy(node.index)
        self.caddy.start(self.procs)
        self.caddy.wait_ready(self.startup_timeout)

    def start_instance(self, index: int, *, wait: bool = True) -> Instance:
        node = self.nodes[index]
        argv = [self._bin("vibetuner"), "run", "prod", "--host", "127.0.0.1"]
        argv += ["--port", str(node.port), "--workers", str(self.workers)]
        node.child = self.procs.start(
            f"app{index}", argv, cwd=self.app_dir, env=self.env
        )
        if wait:
            self.wait_healthy(index)
        return node

    def wait_healthy(self, index: int) -> float:
        """Wait for a 200 on /health/ping; return the seconds it took."""
        node = self.nodes[index]
        assert node.child is not None
        started = time.monotonic()
        deadline = started + self.startup_timeout
        while time.monotonic() < deadline:
            if http_status(node.port, PING, timeout=1.0) == 200:
                return time.monotonic() - started
            if node.child.proc.poll() is not None:
                raise RunFailed(f"app{index} exited:\n{node.child.log_tail()}")
            time.sleep(0.1)
        raise RunFailed(f"app{index} never became healthy:\n{node.child.log_tail()}")

    def terminate_instance(self, index: int, timeout: float = 60.0) -> float:
        """SIGTERM the launcher only (as an orchestrator does); return seconds to exit."""
        node = self.nodes[index]
        assert node.child is not None
        started = time.monotonic()
        node.child.proc.send_signal(signal.SIGTERM)
        try:
            node.child.proc.wait(timeout)
        finally:
            self.procs.stop(node.child)  # anything left in its group
            node.child = None
        return time.monotonic() - started

    def kill_instance(self, index: int) -> None:
        """SIGKILL the launcher and its workers at once: a crashed machine."""
        node = self.nodes[index]
        assert node.child is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.child.proc.pid, signal.SIGKILL)
        node.child.proc.wait(10)
        self.procs.stop(node.child)
        node.child = None

    def stop(self) -> None:
        self.procs.terminate_all()
        self.smtp.stop()

    def logs(self) -> str:
        """The tail of every log, for a failing test's message."""
        parts = []
        for log in sorted(self.workdir.glob("*.log")):
            with contextlib.suppress(OSError):
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                parts.append(f"--- {log.name}\n{tail}")
        return "\n".join(parts)
