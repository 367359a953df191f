"""A real redis-server for tests, on a free port with no persistence: the one way the tests,
the live server, the bench and the scale cluster start one."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from vibetuner.server._net import free_port
from vibetuner.server._process import Started, die_with_parent, stop_group
from vibetuner.testing._required import missing


def redis_binary() -> str:
    """redis-server on PATH; skip without it (fail under VIBETUNER_REQUIRE_ALL=1)."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed (apt-get install redis-server)")
    return binary


class RedisServer(Started):
    """`with RedisServer(workdir) as redis:` (redis.url); stop() and start() again to restart
    on the same port, as an outage test does. The server ends with the thread that started
    it: start it from one that outlives it."""

    def __init__(self, workdir: Path, *, password: str | None = None) -> None:
        self.workdir = workdir
        self.password = password
        self.port = free_port()
        auth = f":{quote(password, safe='')}@" if password else ""
        self.url = f"redis://{auth}127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        command = [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", str(self.workdir)]  # fmt: skip
        if self.password:
            command += ["--requirepass", self.password]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=die_with_parent(),  # a killed test run leaves none
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None

    def _answers(self) -> bool:
        hello = b"PING\r\n"
        if self.password:  # as a RESP array: the password may hold spaces
            secret = self.password.encode()
            hello = b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(secret), secret) + hello
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(hello)
                return b"+PONG" in conn.recv(64)
        except OSError:
            return False


@contextmanager
def local_redis(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server on a free port; yields its URL."""
    with RedisServer(workdir) as server:
        yield server.url
