"""Decorators, the production check and the public face of `vibetuner.tasks`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import vibetuner.tasks
from vibetuner.config import get_settings, reset_settings
from vibetuner.exceptions import ConfigError
from vibetuner.tasks import check_jobs_config, cron, task
from vibetuner.tasks._registry import REGISTRY, get_task


@pytest.fixture
def clean_registry() -> object:
    saved = dict(REGISTRY)
    REGISTRY.clear()
    yield REGISTRY
    REGISTRY.clear()
    REGISTRY.update(saved)


def test_public_api_is_curated() -> None:
    assert vibetuner.tasks.__all__ == sorted(vibetuner.tasks.__all__)
    for name in vibetuner.tasks.__all__:
        assert getattr(vibetuner.tasks, name) is not None


async def test_decorators_register_and_stay_callable(clean_registry: object) -> None:
    @task
    async def plain(x: int) -> int:
        return x + 1

    @task(retries=5, backoff=0.5, timeout=3, name="custom")
    async def tuned() -> None: ...

    @cron("*/5 * * * *")
    async def tick() -> None: ...

    assert await plain(1) == 2
    assert get_task(plain.name) is plain and plain.retries == 3
    assert get_task("custom").timeout == 3
    assert [tuned.retry_delay(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert tick.crontab == "*/5 * * * *" and tick.retries == 0
    with pytest.raises(ConfigError, match="No task named"):
        get_task("nope")

    def not_async() -> None: ...

    with pytest.raises(TypeError):
        task(not_async)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tab", "reason"),
    [("every minute", "got 2 need 5 to 7"), ("61 * * * *", "61 out of range"), ("", "got 0")],
)
def test_a_bad_crontab_fails_where_it_is_declared(
    clean_registry: object, tab: str, reason: str
) -> None:
    """Not later, with a traceback, when the worker starts."""
    expected = f"Bad crontab {re.escape(repr(tab))}: .*{reason}"
    with pytest.raises(ConfigError, match=expected) as error:

        @cron(tab)
        async def tick() -> None: ...

    assert error.value.fix and "*/5 * * * *" in error.value.fix
    assert clean_registry == {}


def test_timeouts_must_be_positive(clean_registry: object) -> None:
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="timeout must be positive"):
            task(timeout=bad)(_noop)
        with pytest.raises(ValueError, match="timeout must be positive"):
            cron("* * * * *", timeout=bad)(_noop)
    assert clean_registry == {}


async def _noop() -> None: ...


def test_prod_without_redis_refuses_tasks(
    settings_env: pytest.MonkeyPatch, clean_registry: object
) -> None:
    settings_env.setenv("ENVIRONMENT", "prod")
    reset_settings()
    check_jobs_config(get_settings())  # no tasks defined: fine

    @task
    async def job() -> None: ...

    with pytest.raises(ConfigError, match="REDIS_URL") as error:
        check_jobs_config(get_settings())
    assert "vibetuner run worker" in error.value.message
    assert error.value.fix and "REDIS_URL=" in error.value.fix
    settings_env.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    reset_settings()
    check_jobs_config(get_settings())


def test_jobs_cli_lists_and_rejects_unknown_ids(
    vibetuner_mongo: Any, redis_server: Any, tmp_path: Path
) -> None:
    url = f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}/cli_{tmp_path.name[-8:]}"
    env = {**os.environ, "DATABASE_URL": url, "VIBETUNER_ENV_FILE": str(tmp_path / "none")}
    env.pop("REDIS_URL", None)
    code = "import sys; from vibetuner.cli.jobs import app; sys.argv[0] = 'jobs'; app()"

    def jobs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    assert jobs("dead").stdout.strip() == "No dead jobs."
    assert jobs("dead", "--limit", "0").returncode == 2  # a usage error, not "every job"
    # Without Redis a retried job would run in the command and die with it: refused.
    alone = jobs("retry", "0123456789abcdef01234567")
    assert alone.returncode != 0 and "Without REDIS_URL jobs run inside" in alone.stderr
    env["REDIS_URL"] = redis_server.url
    failed = jobs("retry", "0123456789abcdef01234567")
    assert failed.returncode == 1 and "No dead job" in failed.stderr


def test_framework_tasks_do_not_demand_redis(
    settings_env: pytest.MonkeyPatch, clean_registry: object
) -> None:
    from vibetuner.tasks._builtin import SEND_EMAIL, send_email_job

    REGISTRY[SEND_EMAIL] = send_email_job
    settings_env.setenv("ENVIRONMENT", "prod")
    reset_settings()
    check_jobs_config(get_settings())
    assert get_task(SEND_EMAIL).retries == 3
