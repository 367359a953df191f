"""`vibetuner jobs dead|retry`: look at jobs that failed for good, and run them again."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

app = typer.Typer(help="Inspect and retry background jobs.", no_args_is_help=True)

T = TypeVar("T")


def _with_database(work: Callable[[], Awaitable[T]]) -> T:
    """Open the app's database (and job queue) for one command, then close them."""

    async def run() -> T:
        from vibetuner.mongo import close_db, init_db
        from vibetuner.tasks import close_jobs
        from vibetuner.tasks._worker import app_models

        src = Path.cwd() / "src"
        if src.is_dir() and str(src) not in sys.path:
            sys.path.insert(0, str(src))
        await init_db(app_models())
        try:
            return await work()
        finally:
            await close_jobs()
            await close_db()

    return asyncio.run(run())


@app.command()
def dead(
    limit: Annotated[int, typer.Option(help="How many to show, newest first.")] = 50,
    all_: Annotated[bool, typer.Option("--all", help="Include ones already retried.")] = False,
) -> None:
    """List dead letters: jobs that failed on their last attempt."""
    from vibetuner.tasks import list_dead

    async def work() -> list[Any]:
        return await list_dead(limit, include_retried=all_)

    jobs = _with_database(work)
    if not jobs:
        typer.echo("No dead jobs.")
        return
    for job in jobs:
        retried = f"  retried as {job.retry_job_id}" if job.retried_at else ""
        typer.echo(
            f"{job.id}  {job.failed_at:%Y-%m-%d %H:%M:%S}  {job.task}  "
            f"attempts={job.attempts}  {job.error}{retried}"
        )


@app.command()
def retry(dead_id: Annotated[str, typer.Argument(help="The id `jobs dead` shows.")]) -> None:
    """Enqueue a dead job again with the same arguments."""
    from vibetuner.tasks import retry_dead_job

    async def work() -> str:
        handle = await retry_dead_job(dead_id)
        return handle.id

    typer.echo(f"Re-enqueued as job {_with_database(work)}")
