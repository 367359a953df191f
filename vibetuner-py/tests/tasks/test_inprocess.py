"""Without REDIS_URL in dev, jobs run inside this process with the same API and retries."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest

from vibetuner.config import reset_settings
from vibetuner.data._mongo import get_database
from vibetuner.tasks import (
    JobFailed,
    _runner,
    close_jobs,
    list_dead,
    on_job_outcome,
    queue,
    queue_length,
    retry_dead_job,
)


@pytest.fixture
async def inprocess(settings_env: pytest.MonkeyPatch, job_app: Any, job_db: str) -> Any:
    settings_env.setenv("DATABASE_URL", job_db)
    reset_settings()
    await close_jobs()
    outcomes: list[tuple[str, str]] = []
    callback = on_job_outcome(lambda name, outcome: outcomes.append((name, outcome)))
    yield outcomes
    _runner._callbacks.remove(callback)
    await close_jobs()


async def test_same_tasks_run_in_process_with_retries(
    inprocess: list[tuple[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    from app.tasks import fragile, record  # type: ignore[import-not-found]

    with caplog.at_level(logging.INFO, logger="vibetuner.tasks"):
        handle = await record.enqueue(5, "inproc")
        assert await handle.result(timeout=5) == 10
    assert "in-process" in caplog.text
    assert await handle.status() == "done"
    effect = await get_database().effects.find_one({"_id": handle.id})
    assert effect is not None and effect["pid"] == os.getpid()

    failing = await queue(fragile, "k3")
    with pytest.raises(JobFailed, match="k3 is broken"):
        await failing.result(timeout=5)
    assert await failing.status() == "failed"
    attempts = await get_database().attempts.find({"job": failing.id}).to_list()
    assert sorted(a["attempt"] for a in attempts) == [1, 2, 3]
    [dead] = [d for d in await list_dead() if d.job_id == failing.id]
    assert dead.attempts == 3 and dead.error == "RuntimeError: k3 is broken"

    await get_database().fixed.insert_one({"_id": "k3"})
    again = await retry_dead_job(str(dead.id))
    assert await again.result(timeout=5) == "k3 ok"

    name = "app.tasks.fragile"
    assert inprocess.count((name, "retried")) == 2
    assert (name, "dead") in inprocess and (name, "ok") in inprocess
    assert ("app.tasks.record", "ok") in inprocess


async def test_delayed_job_waits_and_counts_as_queued(inprocess: Any) -> None:
    from app.tasks import record

    later = await queue(record, 1, "delayed", delay=0.2)
    assert await later.status() == "scheduled"
    assert await queue_length() == 1
    assert await later.result(timeout=5) == 2
    assert await queue_length() == 0
    with pytest.raises(TimeoutError):
        slow = await queue(record, 2, "never", delay=60)
        await slow.result(timeout=0.05)
