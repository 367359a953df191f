"""Jobs run on time and stop on time, in a real worker process on a real redis-server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.tasks.conftest import eventually, never_finished
from vibetuner.config import reset_settings
from vibetuner.data._mongo import get_database
from vibetuner.tasks import JobFailed, close_jobs


@pytest.fixture
async def redis_jobs(settings_env: pytest.MonkeyPatch, redis_server: Any, job_db: str) -> str:
    settings_env.setenv("REDIS_URL", redis_server.url)
    settings_env.setenv("DATABASE_URL", job_db)
    reset_settings()
    await close_jobs()
    return job_db


async def test_worker_fires_a_cron_every_second_and_stops_one_past_its_timeout(
    redis_jobs: str, launch_worker: Any, cron_app: Path
) -> None:
    from vibetuner.data.models.dead_job import DeadJob

    worker = launch_worker(cron_app, "--concurrency", "4")
    ticks = get_database().ticks

    async def fired_three_times() -> bool:
        return await ticks.count_documents({}) >= 3

    await eventually(fired_three_times, within=15)
    runs = await ticks.find().sort("at").to_list()
    assert {run["pid"] for run in runs} == {worker.proc.pid}  # the worker ran them
    assert len({run["_id"] for run in runs}) == len(runs)  # a job per firing

    # The overrunning cron: stopped at its timeout, recorded as failed, never finished.
    overrun = DeadJob.find(DeadJob.task == "app.tasks.overrun")

    async def dead_lettered() -> bool:
        return await overrun.count() >= 1

    await eventually(dead_lettered, within=15)
    dead = (await overrun.to_list())[0]
    assert dead.error == "JobTimeout: stopped after its 0.3 s timeout"
    assert dead.attempts == 1 and "CancelledError" in dead.traceback
    record = await never_finished("overruns", dead.job_id, after=1.0)
    assert record["pid"] == worker.proc.pid

    # `vibetuner jobs dead` lists it.
    listing = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "vibetuner", "jobs", "dead"], cwd=cron_app,
        env={**os.environ, "DATABASE_URL": redis_jobs}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    assert "app.tasks.overrun  attempts=1  JobTimeout: stopped after its 0.3 s" in listing.stdout
    assert worker.stop() == 0


async def test_worker_stops_a_task_past_its_timeout_and_dead_letters_it(
    redis_jobs: str, start_worker: Any
) -> None:
    from app.tasks import stuck  # type: ignore[import-not-found]

    from vibetuner.data.models.dead_job import DeadJob

    worker = start_worker("--concurrency", "2")
    handle = await stuck.enqueue("redis-1", 1.0)
    with pytest.raises(JobFailed, match=r"JobTimeout: stopped after its 0\.3 s timeout"):
        await handle.result(timeout=20)
    assert await handle.status() == "failed"
    [dead] = await DeadJob.find(DeadJob.job_id == handle.id).to_list()
    assert dead.task == "app.tasks.stuck" and dead.attempts == 1 and dead.args == ["redis-1", 1.0]
    record = await never_finished("stuck", "redis-1", after=1.0)
    assert record["pid"] == worker.proc.pid
    assert worker.stop() == 0
