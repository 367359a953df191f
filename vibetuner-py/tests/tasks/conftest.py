"""A tiny app with tasks in a tmp dir, its database, and real worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vibetuner.data._mongo import get_database

APP_TASKS = '''
import asyncio
import os
import time

from pymongo.errors import DuplicateKeyError

from vibetuner.data._mongo import get_database
from vibetuner.tasks import current_job, task


async def _effect(batch: str, n: int) -> None:
    """The side effect, once per job id however often the job runs."""
    try:
        await get_database().effects.insert_one(
            {"_id": current_job().id, "batch": batch, "n": n, "pid": os.getpid()}
        )
    except DuplicateKeyError:
        pass


@task
async def record(n: int, batch: str) -> int:
    await _effect(batch, n)
    return n * 2


@task(retries=2, backoff=0.05)
async def fragile(key: str) -> str:
    job = current_job()
    db = get_database()
    await db.attempts.insert_one({"key": key, "job": job.id, "attempt": job.attempt})
    if await db.fixed.find_one({"_id": key}) is None:
        raise RuntimeError(f"{key} is broken")
    return f"{key} ok"


@task(retries=1, backoff=0.05, keep_args=False)
async def secretive(link: str, *, note: str = "") -> None:
    raise RuntimeError("the mail provider is down")


@task(retries=0)
async def slow(n: int, batch: str, seconds: float) -> int:
    await get_database().starts.update_one(
        {"_id": current_job().id}, {"$inc": {"count": 1}, "$set": {"batch": batch}}, upsert=True
    )
    await asyncio.sleep(seconds)
    await _effect(batch, n)
    return n


@task(retries=0, timeout=0.3)
async def stuck(key: str, seconds: float) -> str:
    """Runs past its timeout; `finished` is written only if nothing stops it."""
    await _mark("stuck", key, seconds)
    return key


class Rejected(Exception):
    """An exception pickle cannot rebuild: its __init__ takes other arguments than its args."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code


@task(retries=0)
async def reject(code: int) -> None:
    raise Rejected(code, "payment refused")


async def _mark(collection: str, key: str, seconds: float) -> None:
    """Started, then `finished` after `seconds`, or `cancelled` when stopped before that."""
    db = get_database()
    await db[collection].insert_one({"_id": key, "started": time.time(), "pid": os.getpid()})
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        await db[collection].update_one({"_id": key}, {"$set": {"cancelled": time.time()}})
        raise
    await db[collection].update_one({"_id": key}, {"$set": {"finished": time.time()}})
'''

CRON_TASKS = '''
import asyncio
import os
import time

from vibetuner.data._mongo import get_database
from vibetuner.tasks import cron, current_job


@cron("* * * * * * *")
async def tick() -> None:
    """Every second."""
    await get_database().ticks.insert_one(
        {"_id": current_job().id, "at": time.time(), "pid": os.getpid()}
    )


@cron("* * * * * * *", timeout=0.3)
async def overrun() -> None:
    """Every second, and each run would take a second: its timeout stops it at 0.3 s."""
    db = get_database()
    key = current_job().id
    await db.overruns.insert_one({"_id": key, "started": time.time(), "pid": os.getpid()})
    try:
        await asyncio.sleep(1.0)
    except asyncio.CancelledError:
        await db.overruns.update_one({"_id": key}, {"$set": {"cancelled": time.time()}})
        raise
    await db.overruns.update_one({"_id": key}, {"$set": {"finished": time.time()}})
'''


async def eventually(check: Callable[[], Awaitable[object]], within: float = 15) -> None:
    """Wait until `check()` is truthy, failing after `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def never_finished(collection: str, key: str, after: float = 1.0) -> dict[str, Any]:
    """The `_mark` record, once the moment its `finished` would have been written has
    passed (plus a margin): proof that the run was stopped, not left running."""
    record = await get_database()[collection].find_one({"_id": key})
    assert record is not None, f"{key} never started"

    async def past_due() -> bool:
        return time.time() > record["started"] + after + 0.5

    await eventually(past_due, within=after + 5)
    record = await get_database()[collection].find_one({"_id": key})
    assert record is not None and "cancelled" in record and "finished" not in record, record
    return record


@pytest.fixture(scope="session")
def job_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The app folder (src/app/tasks); importable here as `app.tasks`, like the web side."""
    root = tmp_path_factory.mktemp("job-app")
    package = root / "src" / "app" / "tasks"
    package.mkdir(parents=True)
    (root / "src" / "app" / "__init__.py").write_text("")
    (package / "__init__.py").write_text(textwrap.dedent(APP_TASKS))
    saved = {k: v for k, v in sys.modules.items() if k == "app" or k.startswith("app.")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(root / "src"))
    try:
        yield root
    finally:
        sys.path.remove(str(root / "src"))
        for name in [k for k in sys.modules if k == "app" or k.startswith("app.")]:
            del sys.modules[name]
        sys.modules.update(saved)
        from vibetuner.tasks._registry import REGISTRY

        for name in [k for k in REGISTRY if k.startswith("app.")]:
            del REGISTRY[name]


@pytest.fixture
async def job_db(vibetuner_mongo: Any) -> AsyncIterator[str]:
    """A fresh database on the session's SecantusDB, initialised in this process."""
    from vibetuner.data._mongo import close_db, init_db
    from vibetuner.data.models.dead_job import DeadJob

    url = f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}/jobs_{uuid.uuid4().hex[:8]}"
    await init_db([DeadJob], url=url)
    try:
        yield url
    finally:
        from vibetuner.tasks import close_jobs

        await close_jobs()
        await close_db()


class WorkerProcess:
    """`python -m vibetuner.tasks._worker_main` in the app folder, logging to a file."""

    def __init__(self, app_dir: Path, env: dict[str, str], *args: str) -> None:
        self.log = app_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        command = [sys.executable, "-m", "vibetuner.tasks._worker_main", *args]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                command, cwd=app_dir, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready:" in self.output():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"worker did not start:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"worker ignored signal {sig}:\n{self.output()}") from None


@pytest.fixture(scope="session")
def cron_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An app whose tasks are crons firing every second; only its workers import it."""
    root = tmp_path_factory.mktemp("cron-app")
    package = root / "src" / "app" / "tasks"
    package.mkdir(parents=True)
    (root / "src" / "app" / "__init__.py").write_text("")
    (package / "__init__.py").write_text(textwrap.dedent(CRON_TASKS))
    return root


@pytest.fixture
def launch_worker(settings_env: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start workers of an app folder with this test's REDIS_URL and DATABASE_URL; all
    stopped afterwards."""
    started: list[WorkerProcess] = []

    def start(app_dir: Path, *args: str) -> WorkerProcess:
        env = {**os.environ, "PROJECT_ROOT": str(app_dir),
               "VIBETUNER_LAUNCHER_PID": str(os.getpid())}  # fmt: skip
        worker = WorkerProcess(app_dir, env, *args)
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()


@pytest.fixture
def start_worker(job_app: Path, launch_worker: Any) -> Any:
    """Start workers of `job_app` (see `launch_worker`)."""
    return lambda *args: launch_worker(job_app, *args)
