"""`vibetuner run worker --reload`: a changed task file runs as new code; stopping the
reloader stops its worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.tasks.conftest import eventually
from vibetuner.config import reset_settings
from vibetuner.tasks import close_jobs, queue

TASKS = """
import os

from vibetuner.tasks import task


@task(name="reload.version", retries=0)
async def version() -> str:
    return "{version}:" + str(os.getpid())
"""


class Reloader:
    """`vibetuner run worker --reload` in an app folder, logging to a file."""

    def __init__(self, app_dir: Path) -> None:
        self.tasks = app_dir / "src" / "app" / "tasks" / "__init__.py"
        self.workers: set[int] = set()
        """Worker pids seen answering, for the cleanup."""
        self.log = app_dir / "reloader.log"
        command = [sys.executable, "-m", "vibetuner", "run", "worker", "--reload",
                   "--concurrency", "2", "--grace-period", "2"]  # fmt: skip
        env = {**os.environ, "PROJECT_ROOT": str(app_dir)}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                command, cwd=app_dir, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30) -> None:
        """Until a worker says it is ready (Python starts slowly on a loaded machine)."""
        deadline = time.monotonic() + timeout
        while "ready:" not in self.output():
            assert self.proc.poll() is None, f"the reloader exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"no worker started:\n{self.output()}"
            time.sleep(0.05)

    def write(self, version: str) -> None:
        self.tasks.write_text(TASKS.replace("{version}", version))


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
async def reloader(
    settings_env: pytest.MonkeyPatch, redis_server: Any, tmp_path: Path
) -> AsyncIterator[Reloader]:
    settings_env.setenv("REDIS_URL", redis_server.url)
    reset_settings()
    await close_jobs()
    app_dir = tmp_path / "reload-app"
    (app_dir / "src" / "app" / "tasks").mkdir(parents=True)
    (app_dir / "src" / "app" / "__init__.py").write_text("")
    (app_dir / "src" / "app" / "tasks" / "__init__.py").write_text(TASKS.replace("{version}", "v1"))
    started = Reloader(app_dir)
    try:
        await asyncio.to_thread(started.wait_ready)
        yield started
    finally:
        await close_jobs()
        for proc in _stop_all(started.proc, started.workers):
            proc.wait(10)


def _stop_all(reloader: subprocess.Popen[bytes], workers: set[int]) -> Iterator[Any]:
    """Kill what is left of this test's processes, each by its own pid."""
    if reloader.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            workers |= {child.pid for child in psutil.Process(reloader.pid).children()}
        reloader.kill()
        yield reloader
    for pid in workers:
        if not _gone(pid):
            worker = psutil.Process(pid)
            worker.kill()
            yield worker


async def _version(reloader: Reloader, within: float = 30) -> tuple[str, int]:
    """Run `reload.version` on whatever worker is up: (the code's version, the worker pid)."""
    handle = await queue("reload.version")
    try:
        answer: str = await handle.result(timeout=within)
    except TimeoutError:
        raise AssertionError(f"no worker ran the job:\n{reloader.output()}") from None
    version, pid = answer.split(":")
    reloader.workers.add(int(pid))
    return version, int(pid)


async def test_a_changed_task_file_runs_as_new_code(reloader: Reloader) -> None:
    version, first = await _version(reloader)
    assert version == "v1"
    reloader.write("v2")
    deadline = time.monotonic() + 40
    while (answer := await _version(reloader))[0] != "v2":
        assert time.monotonic() < deadline, f"the new code never ran:\n{reloader.output()}"
    assert answer[1] != first
    assert "code changed, restarting the worker" in reloader.output()
    await eventually(lambda: asyncio.to_thread(_gone, first), within=15)  # the old worker

    # SIGTERM (a process manager, `kill`) stops the reloader and its worker with it.
    reloader.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(reloader.proc.wait, 15) == 0
    await eventually(lambda: asyncio.to_thread(_gone, answer[1]), within=15)


async def test_a_worker_whose_reloader_is_killed_stops_itself(reloader: Reloader) -> None:
    _, worker = await _version(reloader)
    reloader.proc.kill()
    reloader.proc.wait(10)
    await eventually(lambda: asyncio.to_thread(_gone, worker), within=15)
