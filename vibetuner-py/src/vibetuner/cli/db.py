"""`vibetuner db ...`: data migrations, indexes, and (from `_backups`) backup and restore."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from vibetuner.cli._backups import backup, backups, restore
from vibetuner.cli._database import app_database_url, run_with_app_database
from vibetuner.config import get_settings
from vibetuner.data._mongo import _database_name, check_reachable, get_database
from vibetuner.data._mongo_connect import client_options
from vibetuner.data.migrations import (
    IndexChanges,
    MigrationState,
    migrate,
    migration_status,
    migrations_folder,
    sync_indexes,
)
from vibetuner.data.migrations import create as create_file
from vibetuner.data.migrations import rollback as rollback_migrations
from vibetuner.data.models import framework_models
from vibetuner.tasks._worker import app_models

app = typer.Typer(
    help="""Manage data migrations (src/app/migrations), indexes and backups.

Examples:
  vibetuner db create add slug to posts
  vibetuner db migrate
  vibetuner db status
  vibetuner db backup
""",
    no_args_is_help=True,
)
app.command("backup")(backup)
app.command("restore")(restore)
app.command("backups")(backups)

LOCK_WAIT_HELP = "Seconds to wait for another instance that is migrating."


def _say(text: str) -> None:
    from rich.console import Console  # rich: kept off the CLI's startup

    Console(stderr=True, highlight=False).print(text)


def _waiting() -> None:
    _say("[yellow]Another instance is migrating; waiting for it to finish…[/]")


def _applied(name: str, seconds: float) -> None:
    typer.echo(f"Applied {name} ({seconds:.2f} s)")


def apply_migrations(*, to: str | None = None, lock_wait: float = 300.0) -> list[str]:
    """Apply pending migrations with the app's database, printing each; `run prod` uses it."""
    folder = migrations_folder()

    async def work() -> list[str]:
        return await migrate(
            get_database(), folder, to=to, lock_wait=lock_wait,
            on_wait=_waiting, on_applied=_applied,
        )  # fmt: skip

    applied = run_with_app_database(work)
    if applied:
        typer.echo(f"{len(applied)} migration{'s' if len(applied) != 1 else ''} applied.")
    else:
        typer.echo("No pending migrations.")
    return applied


@app.command("migrate")
def migrate_command(
    to: Annotated[
        str | None, typer.Option(help="Stop after this migration (name or number).")
    ] = None,
    lock_wait: Annotated[float, typer.Option(min=0, help=LOCK_WAIT_HELP)] = 300.0,
) -> None:
    """Apply pending migrations in order, each once, under a lock.

    Examples:
      vibetuner db migrate
      vibetuner db migrate --to 0003
    """
    apply_migrations(to=to, lock_wait=lock_wait)


@app.command()
def status(
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when a migration is pending (for CI).")
    ] = False,
) -> None:
    """List migrations, applied and pending.

    Examples:
      vibetuner db status
      vibetuner db status --check
    """
    folder = migrations_folder()

    async def work() -> list[MigrationState]:
        return await migration_status(get_database(), folder)

    states = run_with_app_database(work)
    if not states:
        typer.echo(f"No migrations in {folder}. Create one: vibetuner db create add slug")
        return
    for state in states:
        if state.applied_at is None:
            typer.echo(f"pending  {'':19}  {state.name}")
        else:
            missing = "  (file missing)" if state.file_missing else ""
            typer.echo(f"applied  {state.applied_at:%Y-%m-%d %H:%M:%S}  {state.name}{missing}")
    pending = sum(not s.applied for s in states)
    typer.echo(f"{len(states) - pending} applied, {pending} pending.")
    if check and pending:
        raise typer.Exit(1)


@app.command()
def create(
    name: Annotated[list[str], typer.Argument(help="What the migration does, in a few words.")],
) -> None:
    """Write the next numbered migration file, with `up` and `down` to fill in.

    Examples:
      vibetuner db create add slug to posts
    """
    path = create_file(migrations_folder(), name)
    try:
        shown: Any = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    typer.echo(f"Created {shown}")


@app.command()
def rollback(
    steps: Annotated[int, typer.Option(min=1, help="How many of the newest to undo.")] = 1,
    to: Annotated[
        str | None, typer.Option(help="Undo every migration after this one (it stays).")
    ] = None,
    lock_wait: Annotated[float, typer.Option(min=0, help=LOCK_WAIT_HELP)] = 300.0,
) -> None:
    """Undo the newest applied migrations by running their `down`.

    Examples:
      vibetuner db rollback
      vibetuner db rollback --to 0002
    """
    folder = migrations_folder()

    async def work() -> list[str]:
        return await rollback_migrations(
            get_database(), folder, steps=steps, to=to, lock_wait=lock_wait,
            on_wait=_waiting, on_reverted=lambda n, s: typer.echo(f"Reverted {n} ({s:.2f} s)"),
        )  # fmt: skip

    if not run_with_app_database(work):
        typer.echo("Nothing to roll back.")


@app.command()
def indexes(
    drop: Annotated[
        bool, typer.Option("--drop", help="Also drop indexes no model declares any more.")
    ] = False,
) -> None:
    """Create the indexes the framework's and the app's models declare.

    Examples:
      vibetuner db indexes
      vibetuner db indexes --drop
    """

    async def work(url: str) -> list[IndexChanges]:
        from pymongo import AsyncMongoClient  # pymongo: kept off the CLI's startup

        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url, serverSelectionTimeoutMS=5000, tz_aware=True, **client_options()
        )
        try:
            await client.admin.command("ping")
            db = client[_database_name(url, get_settings().mongo_database)]
            return await sync_indexes(db, [*framework_models(), *app_models()], drop=drop)
        finally:
            await client.close()

    with app_database_url() as url:
        check_reachable(url)
        changes = asyncio.run(work(url))
    for change in changes:
        marks = [f"+{n}" for n in change.created] + [f"-{n}" for n in change.dropped]
        detail = ", ".join(marks) if marks else "up to date"
        typer.echo(f"{change.collection}: {detail}  ({len(change.present)} indexes)")
