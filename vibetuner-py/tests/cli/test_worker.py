"""`vibetuner run worker --reload` hands what a stopped worker had fetched to the next one fast."""

from __future__ import annotations

import pytest
import typer

from vibetuner.cli import worker as worker_cli


def _reload_command(monkeypatch: pytest.MonkeyPatch, **options: object) -> list[str]:
    started: list[list[str]] = []

    def run_with_reload(command: list[str], _watched: object) -> int:
        started.append(command)
        return 0

    monkeypatch.setattr(worker_cli, "run_with_reload", run_with_reload)
    with pytest.raises(typer.Exit):
        worker_cli.worker(reload=True, **options)  # type: ignore[arg-type]  # test-only kwargs
    (command,) = started
    return command


def _option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_reload_gives_each_worker_a_short_idle_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # A save stops the worker: a job it had fetched but not started waits this long, not 60 s.
    command = _reload_command(monkeypatch)
    assert float(_option(command, "--idle-timeout")) == worker_cli.RELOAD_IDLE_TIMEOUT <= 5


def test_an_explicit_idle_timeout_still_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    command = _reload_command(monkeypatch, idle_timeout=30.0)
    assert float(_option(command, "--idle-timeout")) == 30.0
