"""The built-in backup job: called directly, registered from settings, and fired by cron in a
real worker."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from vibetuner.config import get_settings, reset_settings
from vibetuner.data._mongo import get_database
from vibetuner.exceptions import ConfigError
from vibetuner.services.backup import backup_folder, stored_backups, verify_archive
from vibetuner.services.storage import LocalStorage, set_storage
from vibetuner.tasks import close_jobs, jobs_problems
from vibetuner.tasks._builtin import BACKUP, register_scheduled_jobs, scheduled_backup
from vibetuner.tasks._registry import REGISTRY, app_task_names


async def test_the_job_stores_a_backup_and_keeps_the_newest(
    settings_env: pytest.MonkeyPatch, job_db: str, tmp_path: Path
) -> None:
    settings_env.setenv("DATABASE_URL", job_db)
    settings_env.setenv("BACKUP_KEEP", "2")
    reset_settings()
    storage = LocalStorage(tmp_path / "blobs", secret="job-tests")
    set_storage(storage)
    try:
        keys = []
        for n in range(3):
            await get_database().orders.insert_one({"n": n})
            keys.append(await scheduled_backup())
        folder = await backup_folder(get_database(), create=False)
        assert await stored_backups(storage, folder) == keys[1:]
        newest = tmp_path / "newest.tar.gz"
        newest.write_bytes((await storage.get(keys[-1])).content)
        orders = next(c for c in verify_archive(newest)["collections"] if c["name"] == "orders")
        assert orders["count"] == 3
    finally:
        set_storage(None)


def test_the_schedule_registers_the_job_only_when_set(
    settings_env: pytest.MonkeyPatch, restore_task_registry: None
) -> None:
    REGISTRY.pop(BACKUP, None)
    register_scheduled_jobs(get_settings())
    assert BACKUP not in REGISTRY
    settings_env.setenv("BACKUP_SCHEDULE", " 30 3 * * * ")
    settings_env.setenv("BACKUP_TIMEOUT", "600")
    reset_settings()
    register_scheduled_jobs(get_settings())
    job = REGISTRY[BACKUP]
    assert job.crontab == "30 3 * * *" and job.timeout == 600 and job.retries == 0
    assert job.fn is scheduled_backup


def test_a_bad_schedule_is_a_config_error(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("BACKUP_SCHEDULE", "every night")
    reset_settings()
    with pytest.raises(ConfigError) as error:
        get_settings()
    assert "BACKUP_SCHEDULE" in str(error.value) and "'every night' is not a cron" in str(
        error.value
    )
    settings_env.setenv("BACKUP_SCHEDULE", "0 3 * * *")
    settings_env.setenv("BACKUP_KEEP", "0")
    reset_settings()
    with pytest.raises(ConfigError, match="BACKUP_KEEP"):
        get_settings()


def test_prod_refuses_a_schedule_without_redis(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("ENVIRONMENT", "prod")
    for name in app_task_names():  # tasks other tests defined: this app has none
        settings_env.delitem(REGISTRY, name)
    reset_settings()
    assert jobs_problems(get_settings()) == []
    settings_env.setenv("BACKUP_SCHEDULE", "0 3 * * *")
    reset_settings()
    [(problem, fix)] = jobs_problems(get_settings())
    assert problem.startswith("BACKUP_SCHEDULE is set, but REDIS_URL is not")
    assert fix == "REDIS_URL=redis://host:6379/0"


async def test_a_worker_runs_the_scheduled_backup_and_prunes(
    settings_env: pytest.MonkeyPatch,
    redis_server: Any,
    job_db: str,
    job_app: Path,
    start_worker: Any,
) -> None:
    settings_env.setenv("REDIS_URL", redis_server.url)
    settings_env.setenv("DATABASE_URL", job_db)
    settings_env.setenv("BACKUP_SCHEDULE", "* * * * * * *")  # every second (seconds first)
    settings_env.setenv("BACKUP_KEEP", "2")
    reset_settings()
    await close_jobs()
    await get_database().orders.insert_many([{"n": n} for n in range(50)])
    worker = start_worker("--concurrency", "2", "--idle-timeout", "2")
    deadline = time.monotonic() + 60
    while worker.output().count("backup stored as") < 3:
        assert worker.proc.poll() is None, worker.output()
        assert time.monotonic() < deadline, f"the backup never ran 3 times:\n{worker.output()}"
        await asyncio.sleep(0.1)
    assert worker.stop(signal.SIGTERM) == 0  # a backup in flight finishes, pruning included

    storage = LocalStorage(job_app / ".vibetuner" / "blobs", secret="unused")
    keys = await stored_backups(storage, await backup_folder(get_database(), create=False))
    assert len(keys) == 2, worker.output()
    for key in keys:
        archive = job_app / "fetched.tar.gz"
        archive.write_bytes((await storage.get(key)).content)
        names = {c["name"]: c for c in verify_archive(archive)["collections"]}
        assert names["orders"]["count"] == 50
    assert "pruned 1 old backups" in worker.output()
