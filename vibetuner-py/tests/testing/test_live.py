"""The pytest plugin's helpers for generated apps (the fixtures run in tests/test_scaffold*)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vibetuner.testing._live import worker_settings


def test_the_live_servers_worker_wait_uses_the_workers_own_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker reads the environment only, so a JOB_QUEUE in .env must not be used."""
    (tmp_path / ".env").write_text("JOB_QUEUE=from-dotenv\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIBETUNER_ENV_FILE", raising=False)
    monkeypatch.delenv("JOB_QUEUE", raising=False)
    redis = {"REDIS_URL": "redis://127.0.0.1:6390/0"}
    assert worker_settings({**redis, "JOB_QUEUE": "custom"}).job_queue == "custom"
    assert worker_settings(redis).job_queue == "vibetuner"
    assert worker_settings(redis).redis_url == redis["REDIS_URL"]
