"""The test redis-server goes when whoever started it goes, even by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from vibetuner.testing._redis import redis_binary

STARTER = """
import sys, time
from pathlib import Path
from vibetuner.testing import RedisServer
server = RedisServer(Path(sys.argv[1])).start()
print(server.process.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose: it serves nothing and init reaps it.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_redis_server_stops_when_its_starter_is_killed(tmp_path: Path) -> None:
    redis_binary()  # skips (fails under VIBETUNER_REQUIRE_ALL) here, not in the child
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert starter.stdout is not None
    redis_pid = int(starter.stdout.readline())
    assert _alive(redis_pid)
    starter.send_signal(signal.SIGKILL)
    starter.wait(timeout=30)
    deadline = time.monotonic() + 30  # a liveness bound: it goes within milliseconds
    while _alive(redis_pid):
        if time.monotonic() > deadline:
            os.kill(redis_pid, signal.SIGKILL)
            raise AssertionError("redis-server outlived the process that started it")
        time.sleep(0.05)
