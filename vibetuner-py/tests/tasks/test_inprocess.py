"""Without REDIS_URL in dev, jobs run inside this process with the same API and retries."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.tasks.conftest import eventually, never_finished
from vibetuner import create_app
from vibetuner.config import reset_settings
from vibetuner.data._mongo import get_database
from vibetuner.tasks import (
    JobFailed,
    _runner,
    close_jobs,
    cron,
    current_job,
    list_dead,
    on_job_outcome,
    queue,
    queue_length,
    retry_dead_job,
)
from vibetuner.tasks._registry import REGISTRY


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


async def test_a_job_carrying_a_secret_leaves_a_dead_letter_without_it(inprocess: Any) -> None:
    """A sign-in link must not rest in the database (its token is stored only as a hash):
    the dead letter of a `keep_args=False` job holds none of its arguments, so it cannot
    be retried, and says so."""
    from app.tasks import secretive

    from vibetuner.data.models.dead_job import DeadJob
    from vibetuner.tasks import NotRetryable
    from vibetuner.tasks._builtin import send_email_job

    link = "https://example.com/auth/magic/SECRET-TOKEN-123"
    handle = await secretive.enqueue(link, note=link)
    with pytest.raises(JobFailed, match="the mail provider is down"):
        await handle.result(timeout=5)
    [dead] = [d for d in await list_dead() if d.job_id == handle.id]
    assert dead.attempts == 2 and not dead.args_kept
    stored = await get_database()[DeadJob.Settings.name].find_one({"_id": dead.id})
    assert stored is not None and "SECRET-TOKEN" not in repr(stored)
    with pytest.raises(NotRetryable, match="carried a secret") as refused:
        await retry_dead_job(str(dead.id))
    assert refused.value.fix and "new link" in refused.value.fix
    assert send_email_job.keep_args is False  # the framework's only queued mail: sign-in links


async def test_a_dead_job_whose_arguments_mongodb_cannot_store_is_kept_as_text(
    inprocess: Any,
) -> None:
    """Readable, and not retried with its arguments' text in their place."""
    from app.tasks import fragile

    from vibetuner.tasks import NotRetryable

    class Unstorable:
        def __repr__(self) -> str:
            return "<unstorable>"

    handle = await queue(fragile, Unstorable())
    with pytest.raises(JobFailed):
        await handle.result(timeout=5)
    [dead] = [d for d in await list_dead() if d.job_id == handle.id]
    assert dead.args == ["<unstorable>"] and not dead.args_kept
    with pytest.raises(NotRetryable, match="only as text"):
        await retry_dead_job(str(dead.id))


async def test_a_dead_job_is_retried_at_most_once(inprocess: Any) -> None:
    """A double click, two admins, or the console beside the CLI: the letter is claimed
    before its job is queued again, so the job runs once more, not twice."""
    from app.tasks import fragile

    from vibetuner.data.models.dead_job import DeadJob
    from vibetuner.tasks import JobHandle, NotRetryable

    failing = await queue(fragile, "k9")
    with pytest.raises(JobFailed):
        await failing.result(timeout=5)
    [dead] = [d for d in await list_dead() if d.job_id == failing.id]
    await get_database().fixed.insert_one({"_id": "k9"})
    both = await asyncio.gather(
        retry_dead_job(str(dead.id)), retry_dead_job(str(dead.id)), return_exceptions=True
    )
    [handle] = [outcome for outcome in both if isinstance(outcome, JobHandle)]
    [refused] = [outcome for outcome in both if isinstance(outcome, NotRetryable)]
    assert "already retried" in refused.message
    assert await handle.result(timeout=5) == "k9 ok"
    with pytest.raises(NotRetryable, match=f"as job {handle.id}"):
        await retry_dead_job(str(dead.id))
    stored = await DeadJob.get(dead.id)
    assert stored is not None and stored.retry_job_id == handle.id and stored.retried_at


async def test_a_dead_letter_is_stored_whatever_the_job_carried(inprocess: Any) -> None:
    """Arguments and an error too large for one MongoDB document, or an exception whose
    message cannot be read, still leave a dead letter (clipped, not retryable)."""
    from vibetuner.tasks._dead import TEXT_LIMIT, record_dead

    class Unreadable(Exception):
        def __str__(self) -> str:
            raise TypeError("no message")

    huge = "x" * (17 * 1024 * 1024)
    large = await record_dead("app.tasks.fragile", "big", (huge,), {"note": huge},
                              RuntimeError(huge), 3)  # fmt: skip
    assert large is not None and not large.args_kept
    assert len(large.error) < TEXT_LIMIT + 100 and large.error.startswith("RuntimeError: xxx")
    assert len(large.traceback) < TEXT_LIMIT + 100
    assert all(len(text) < TEXT_LIMIT + 100 for text in [*large.args, *large.kwargs.values()])
    odd = await record_dead("app.tasks.fragile", "odd", (), {}, Unreadable(), 1)
    assert odd is not None and odd.error.startswith("Unreadable: <")
    assert {d.job_id for d in await list_dead()} >= {"big", "odd"}


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


async def test_job_past_its_timeout_is_stopped_and_dead_lettered(
    inprocess: list[tuple[str, str]],
) -> None:
    from app.tasks import stuck

    handle = await stuck.enqueue("inproc-1", 1.0)
    with pytest.raises(JobFailed, match=r"JobTimeout: stopped after its 0\.3 s timeout"):
        await handle.result(timeout=5)
    assert await handle.status() == "failed"
    [dead] = [d for d in await list_dead() if d.job_id == handle.id]
    assert dead.attempts == 1 and dead.error == "JobTimeout: stopped after its 0.3 s timeout"
    assert ("app.tasks.stuck", "dead") in inprocess
    record = await never_finished("stuck", "inproc-1", after=1.0)
    assert record["pid"] == os.getpid()


@pytest.fixture
def scheduled() -> Iterator[dict[str, list[tuple[float, float | None]]]]:
    """Three crons registered for one test, each every second: a quick one, one past its
    timeout, and one that runs longer than the period (no timeout)."""
    runs: dict[str, list[tuple[float, float | None]]] = {"tick": [], "overrun": [], "slow": []}
    before = set(REGISTRY)

    async def timed(name: str, seconds: float) -> None:
        runs[name].append((time.monotonic(), None))
        index = len(runs[name]) - 1
        await asyncio.sleep(seconds)
        runs[name][index] = (runs[name][index][0], time.monotonic())

    @cron("* * * * * * *", name="dev.tick")
    async def tick() -> None:
        await get_database().ticks.insert_one({"_id": current_job().id, "at": time.time()})
        await timed("tick", 0)

    @cron("* * * * * * *", name="dev.overrun", timeout=0.3)
    async def overrun() -> None:
        await timed("overrun", 1.0)

    @cron("* * * * * * *", name="dev.slow", timeout=None)
    async def slow() -> None:
        await timed("slow", 2.5)

    yield runs
    for name in set(REGISTRY) - before:
        del REGISTRY[name]


async def test_dev_app_without_redis_fires_crons_itself(
    inprocess: list[tuple[str, str]],
    scheduled: dict[str, list[tuple[float, float | None]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without REDIS_URL there is no worker: the dev app fires its crons, as the worker would."""
    from vibetuner.data.models.dead_job import DeadJob

    app = create_app()
    with caplog.at_level(logging.INFO, logger="vibetuner.tasks"):
        async with app.router.lifespan_context(app):

            async def fired() -> bool:
                return len(scheduled["tick"]) >= 3 and len(scheduled["slow"]) >= 2

            await eventually(fired, within=10)
            ticks = await get_database().ticks.find().to_list()
            assert len({t["_id"] for t in ticks}) == len(ticks) >= 3  # a job per firing

            # Past its timeout: dead-lettered, and stopped: once its first run would have
            # ended (1 s, plus a margin), that run still has no end.
            first = scheduled["overrun"][0]

            async def first_overrun_due() -> bool:
                return time.monotonic() > first[0] + 1.5

            await eventually(first_overrun_due, within=5)
            assert scheduled["overrun"][0][1] is None
            dead = await DeadJob.find(DeadJob.task == "dev.overrun").to_list()
            assert dead and dead[0].error == "JobTimeout: stopped after its 0.3 s timeout"
            assert ("dev.overrun", "dead") in inprocess

            # A run still going when the next is due: that one skips, runs never overlap.
            slow = scheduled["slow"]
            assert slow[0][1] is not None and slow[1][0] >= slow[0][1]
    assert "fires 3 cron job(s) (dev only)" in caplog.text
    assert "cron dev.slow is still running" in caplog.text
    loops = [t for t in asyncio.all_tasks() if "fire_on_schedule" in repr(t.get_coro())]
    assert loops == [], "the cron loops outlived the app"
