"""`vibetuner jobs dead|retry`: look at jobs that failed for good, and run them again."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vibetuner.cli._database import run_with_app_database
from vibetuner.cli._progress import printable
from vibetuner.config import get_settings
from vibetuner.exceptions import ConfigError
from vibetuner.tasks import list_dead, retry_dead_job

app = typer.Typer(
    help="""Inspect and retry background jobs.

Examples:
  vibetuner jobs dead
  vibetuner jobs retry 6566f0c2a1b2c3d4e5f60718
""",
    no_args_is_help=True,
)


@app.command()
def dead(
    limit: Annotated[int, typer.Option(min=1, help="How many to show, newest first.")] = 50,
    all_: Annotated[bool, typer.Option("--all", help="Include ones already retried.")] = False,
) -> None:
    """List dead letters: jobs that failed on their last attempt.

    Examples:
      vibetuner jobs dead
      vibetuner jobs dead --all --limit 10
    """

    async def work() -> list[Any]:
        return await list_dead(limit, include_retried=all_)

    jobs = run_with_app_database(work)
    if not jobs:
        typer.echo("No dead jobs.")
        return
    for job in jobs:
        retried = f"  retried as {job.retry_job_id}" if job.retried_at else ""
        typer.echo(printable(
            f"{job.id}  {job.failed_at:%Y-%m-%d %H:%M:%S}  {job.task}  "
            f"attempts={job.attempts}  {job.error}{retried}"
        ))  # fmt: skip


@app.command()
def retry(dead_id: Annotated[str, typer.Argument(help="The id `jobs dead` shows.")]) -> None:
    """Enqueue a dead job again with the same arguments.

    Examples:
      vibetuner jobs retry 6566f0c2a1b2c3d4e5f60718
    """

    if not get_settings().redis_url:
        raise ConfigError(
            "Without REDIS_URL jobs run inside the app's own process: retried here, the job "
            "would run in this command and be cut off when it ends.",
            fix="Retry it in the running app's debug console (/_debug/jobs), or set REDIS_URL "
            "to the Redis its worker uses.",
        )

    async def work() -> str:
        handle = await retry_dead_job(dead_id)
        return handle.id

    typer.echo(f"Re-enqueued as job {run_with_app_database(work)}")
