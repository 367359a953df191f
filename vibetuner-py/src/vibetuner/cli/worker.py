"""`vibetuner run worker` and `vibetuner worker-health`: run and probe the job worker."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vibetuner.config import get_settings
from vibetuner.tasks._reload import run_with_reload
from vibetuner.tasks._worker import run_worker, worker_alive

RELOAD_IDLE_TIMEOUT = 5.0
"""With --reload a worker stops on every save, and a job it had fetched but not started goes
to the next worker only after the idle timeout: seconds here, not JOB_IDLE_TIMEOUT's minute."""


def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (default WORKER_CONCURRENCY).")
    ] = None,
    reload: Annotated[
        bool, typer.Option("--reload/--no-reload", help="Restart on code changes under src/.")
    ] = False,
    idle_timeout: Annotated[
        float | None,
        typer.Option(help="Seconds before a dead worker's jobs go to another worker."),
    ] = None,
    grace_period: Annotated[
        int | None, typer.Option(help="Seconds to let running jobs finish on SIGTERM.")
    ] = None,
    burst: Annotated[bool, typer.Option("--burst", help="Exit once the queue is empty.")] = False,
) -> None:
    """Run background jobs from src/app/tasks with the app's settings and database.

    Examples:
      vibetuner run worker --concurrency 20
      vibetuner run worker --reload
    """
    if reload:
        command = [sys.executable, "-m", "vibetuner.tasks._worker_main"]
        for flag, value in (
            ("--concurrency", concurrency),
            ("--idle-timeout", RELOAD_IDLE_TIMEOUT if idle_timeout is None else idle_timeout),
            ("--grace-period", grace_period),
        ):
            if value is not None:
                command += [flag, str(value)]
        if burst:
            command.append("--burst")
        raise typer.Exit(run_with_reload(command, Path.cwd() / "src"))

    run_worker(
        concurrency=concurrency, idle_timeout=idle_timeout, grace_period=grace_period, burst=burst
    )


def worker_health(
    any_host: Annotated[
        bool, typer.Option("--any", help="Healthy if any worker, on any host, is alive.")
    ] = False,
) -> None:
    """Exit 0 when a worker on this host refreshed its heartbeat in Redis, else 1.

    Examples:
      vibetuner worker-health
      vibetuner worker-health --any
    """
    alive = worker_alive(get_settings(), any_host=any_host)
    typer.echo("worker: alive" if alive else "worker: no heartbeat")
    raise typer.Exit(0 if alive else 1)
