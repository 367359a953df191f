"""Jobs on a real redis-server, run by real worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from vibetuner.config import get_settings, reset_settings
from vibetuner.data._mongo import get_database
from vibetuner.tasks import (
    JobFailed,
    close_jobs,
    list_dead,
    queue,
    queue_length,
    retry_dead_job,
    running_jobs,
)


@pytest.fixture
async def redis_jobs(
    settings_env: pytest.MonkeyPatch, redis_server: Any, job_db: str
) -> dict[str, str]:
    settings_env.setenv("REDIS_URL", redis_server.url)
    settings_env.setenv("DATABASE_URL", job_db)
    reset_settings()
    await close_jobs()
    return {"redis": redis_server.url, "db": job_db}


async def _wait_for(predicate: Any, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def _health() -> int:
    probe = typer.Typer()
    from vibetuner.cli.worker import worker_health

    probe.command()(worker_health)
    return CliRunner().invoke(probe, []).exit_code


async def test_worker_runs_retries_and_dead_letters(
    redis_jobs: dict[str, str], start_worker: Any
) -> None:
    from app.tasks import fragile, record, slow  # type: ignore[import-not-found]

    from vibetuner.data.models.dead_job import DeadJob

    assert _health() == 1
    worker = start_worker("--concurrency", "5", "--idle-timeout", "2", "--grace-period", "10")
    await _wait_for(lambda: asyncio.to_thread(lambda: _health() == 0))

    handle = await record.enqueue(21, "web")
    assert await handle.result(timeout=20) == 42
    assert await handle.status() == "done"
    effect = await get_database().effects.find_one({"_id": handle.id})
    assert effect is not None and effect["pid"] == worker.proc.pid != os.getpid()

    failing = await queue(fragile, "k1")
    with pytest.raises(JobFailed, match="k1 is broken"):
        await failing.result(timeout=20)
    assert await failing.status() == "failed"
    attempts = await get_database().attempts.find({"job": failing.id}).to_list()
    assert sorted(a["attempt"] for a in attempts) == [1, 2, 3]
    dead = await DeadJob.find(DeadJob.job_id == failing.id).to_list()
    assert len(dead) == 1 and dead[0].attempts == 3 and dead[0].args == ["k1"]
    assert "RuntimeError" in dead[0].traceback
    assert [d.job_id for d in await list_dead()] == [failing.id]

    await get_database().fixed.insert_one({"_id": "k1"})
    again = await retry_dead_job(str(dead[0].id))
    assert await again.result(timeout=20) == "k1 ok"
    assert await list_dead() == []

    later = await record.enqueue_in(60, 1, "later")
    assert await later.status() == "scheduled"
    assert await queue_length() >= 1

    # SIGTERM lets the running job finish, then the worker exits and its heartbeat goes.
    assert await running_jobs() == 0, "nothing runs between jobs (the debug console's count)"
    running = await slow.enqueue(7, "term", 3.0)
    await _wait_for(lambda: get_database().starts.find_one({"_id": running.id}))
    await _wait_for(lambda: _running_is(1), within=3.0)  # the job sleeps 3 s
    assert worker.stop(signal.SIGTERM) == 0
    assert await running.result(timeout=10) == 7
    await _wait_for(lambda: _running_is(0))
    assert _health() == 1


async def _running_is(count: int) -> bool:
    return await running_jobs() == count


async def test_sigkilled_worker_loses_nothing(
    redis_jobs: dict[str, str], start_worker: Any
) -> None:
    from app.tasks import slow

    first = start_worker("--concurrency", "20", "--idle-timeout", "1.5")
    handles = [await slow.enqueue(n, "kill", 0.5) for n in range(100)]
    starts = get_database().starts

    async def in_flight() -> bool:
        return await starts.count_documents({"batch": "kill"}) >= 20

    await _wait_for(in_flight)
    first.stop(signal.SIGKILL)
    second = start_worker("--concurrency", "25", "--idle-timeout", "1.5")

    results = await asyncio.gather(*(h.result(timeout=40) for h in handles))
    assert sorted(results) == list(range(100))
    effects = await get_database().effects.find({"batch": "kill"}).to_list()
    assert sorted(e["_id"] for e in effects) == sorted(h.id for h in handles)
    runs = {doc["_id"]: doc["count"] for doc in await starts.find({"batch": "kill"}).to_list()}
    assert set(runs) == {h.id for h in handles}
    assert any(count > 1 for count in runs.values()), "no job was redelivered"
    assert any(e["pid"] == second.proc.pid for e in effects)
    assert second.stop() == 0
    assert get_settings().redis_url == redis_jobs["redis"]


async def test_worker_and_web_side_survive_a_redis_restart(
    redis_jobs: dict[str, str], redis_server: Any, start_worker: Any
) -> None:
    """Redis goes away and comes back: the same worker and the web side carry on, no restart."""
    from app.tasks import record  # type: ignore[import-not-found]

    worker = start_worker("--concurrency", "2", "--idle-timeout", "2")
    assert await (await record.enqueue(1, "before")).result(timeout=20) == 2
    redis_server.stop()
    deadline = time.monotonic() + 30
    while "Redis is unavailable" not in worker.output():  # the worker saw the outage
        assert time.monotonic() < deadline, f"the worker never noticed:\n{worker.output()}"
        await asyncio.sleep(0.05)
    redis_server.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            handle = await record.enqueue(2, "after")
            break
        except Exception:
            assert time.monotonic() < deadline, "the web side never reconnected"
            await asyncio.sleep(0.2)
    assert await handle.result(timeout=30) == 4
    assert worker.proc.poll() is None, f"the worker died:\n{worker.output()}"


async def test_a_job_exception_pickle_cannot_rebuild_still_reads_as_failed(
    redis_jobs: dict[str, str], start_worker: Any
) -> None:
    """The web side reads the failure, not a deserialisation error, for any exception."""
    from app.tasks import reject  # type: ignore[import-not-found]

    from vibetuner.data.models.dead_job import DeadJob

    worker = start_worker("--concurrency", "2")
    handle = await reject.enqueue(402)
    with pytest.raises(JobFailed, match=r"failed: Rejected: 402 payment refused$"):
        await handle.result(timeout=20)
    assert await handle.status() == "failed"
    [dead] = await DeadJob.find(DeadJob.job_id == handle.id).to_list()
    assert dead.error == "Rejected: 402 payment refused"
    assert worker.stop() == 0
