"""`vibetuner db backup|restore|backups`: thin commands over `vibetuner.services.backup`."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vibetuner.cli._database import app_database_url, run_with_app_database
from vibetuner.config import get_settings, redact_url, reset_settings
from vibetuner.data._mongo import _database_name, check_reachable, get_database
from vibetuner.data._mongo_connect import client_options
from vibetuner.data.migrations import migrations_folder
from vibetuner.exceptions import ConfigError
from vibetuner.i18n._format import format_bytes

if TYPE_CHECKING:
    from types import TracebackType

    from pymongo.asynchronous.database import AsyncDatabase

    from vibetuner.services.backup import RestoreSummary

LARGE_COLLECTION = 5000
"""Collections with at least this many documents get a progress bar."""


class Bars:
    """Rich progress bars (on stderr) for the large collections of a backup or restore."""

    def __init__(self, verb: str) -> None:
        from rich.console import Console  # rich: kept off the CLI's startup
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.verb = verb
        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True, highlight=False),
        )  # fmt: skip
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Bars:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.tasks:
            self.bars.stop()

    def start(self, collection: str, total: int) -> None:
        if total >= LARGE_COLLECTION:
            if not self.tasks:  # shown from the first large collection on, so errors stay alone
                self.bars.start()
            self.tasks[collection] = self.bars.add_task(f"{self.verb} {collection}", total=total)

    def advance(self, collection: str, documents: int) -> None:
        if collection in self.tasks:
            self.bars.advance(self.tasks[collection], documents)

    def finish(self, collection: str, documents: int) -> None:
        if collection in self.tasks:
            self.bars.update(self.tasks[collection], completed=documents, total=documents)


def backup(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the archive here (default: ./<database>-<time>.tar.gz)."),
    ] = None,
    to_storage: Annotated[
        bool,
        typer.Option(
            "--to-storage",
            help="Store it in blob storage (STORAGE_BACKEND) and keep the newest BACKUP_KEEP.",
        ),
    ] = False,
) -> None:
    """Back up the database: every collection (BSON), its indexes and the migration version.

    Examples:
      vibetuner db backup
      vibetuner db backup --out backups/before-upgrade.tar.gz
      vibetuner db backup --to-storage
    """
    from pymongo import AsyncMongoClient  # pymongo: kept off the CLI's startup

    from vibetuner.services.backup import backup_database, backup_to_storage  # pymongo: as above
    from vibetuner.services.storage import get_storage

    if out is not None and to_storage:
        raise ConfigError("Pass --out or --to-storage, not both.", fix="Drop one of them.")

    async def work(url: str) -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url, serverSelectionTimeoutMS=5000, tz_aware=True, **client_options()
        )
        try:
            db: AsyncDatabase[dict[str, Any]] = client[
                _database_name(url, get_settings().mongo_database)
            ]
            if to_storage:
                with Bars("Backing up") as bars:
                    stored = await backup_to_storage(
                        db, get_storage(), keep=get_settings().backup_keep, progress=bars
                    )
                summary = stored.summary
                where = f"storage key {stored.key}"
                size = stored.size
            else:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                path = out or Path.cwd() / f"{db.name}-{stamp}.tar.gz"
                with Bars("Backing up") as bars:
                    summary = await backup_database(db, path, progress=bars)
                where, size = str(path), summary.size
        finally:
            await client.close()
        version = summary.migration or "no migrations"
        typer.echo(
            f"Backed up {summary.collections} collections, {summary.documents:,} documents "
            f"({version}) to {where} ({format_bytes(size)})."
        )
        if to_storage and stored.pruned:
            keep = get_settings().backup_keep
            typer.echo(f"Pruned {len(stored.pruned)} older backups (BACKUP_KEEP={keep}).")

    with app_database_url() as url:
        check_reachable(url)
        asyncio.run(work(url))


def restore(
    archive: Annotated[
        str, typer.Argument(help="The archive's path (or its storage key, with --from-storage).")
    ],
    drop: Annotated[
        bool,
        typer.Option(
            "--drop", help="Replace collections that hold data; others in the database stay."
        ),
    ] = False,
    from_storage: Annotated[
        bool, typer.Option("--from-storage", help="ARCHIVE is a key in blob storage.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="With --drop: replace without asking (scripts).")
    ] = False,
) -> None:
    """Restore an archive: checked whole first, swapped in, then migrated forward.

    Stop the app and its workers first: writes during a restore may be lost. With --drop it
    names the database it replaces data in and asks first (--yes in scripts).

    Examples:
      vibetuner db restore app-20250102T030000Z.tar.gz
      vibetuner db restore backup.tar.gz --drop
      vibetuner db restore backup.tar.gz --drop --yes
      vibetuner db restore backups/app/20250102T030000.000000Z-1a2b3c4d.tar.gz --from-storage
    """
    if drop and not yes:
        _confirm_drop(archive)
    from vibetuner.services.backup import fetch_backup, restore_database  # pymongo: off startup
    from vibetuner.services.storage import get_storage

    folder = migrations_folder()

    def applied(name: str, seconds: float) -> None:
        typer.echo(f"Applied {name} ({seconds:.2f} s)")

    async def work() -> RestoreSummary:
        with tempfile.TemporaryDirectory(prefix="vibetuner-restore-") as scratch:
            path = Path(archive)
            if from_storage:
                path = await fetch_backup(get_storage(), archive, Path(scratch) / "archive.tar.gz")
            with Bars("Restoring") as bars:
                return await restore_database(
                    get_database(), path, migrations=folder, drop=drop, progress=bars,
                    on_applied=applied,
                )  # fmt: skip

    summary = run_with_app_database(work)
    if summary.leftovers_removed:
        typer.echo(f"Removed {len(summary.leftovers_removed)} collections an interrupted "
                   "restore had left.")  # fmt: skip
    at = summary.archive_migration
    typer.echo(
        f"Restored {len(summary.collections)} collections, {summary.documents:,} documents "
        f"({f'archive at {at}' if at else 'archive without migrations'})."
    )
    if summary.migrated:
        typer.echo(f"Migrated forward: {len(summary.migrated)} migrations applied.")
    if summary.not_dropped:
        typer.echo(f"Could not drop the replaced collections {', '.join(summary.not_dropped)}; "
                   "drop them by hand.")  # fmt: skip


def backups() -> None:
    """List the backups kept in blob storage for this database, oldest first.

    Examples:
      vibetuner db backups
    """
    from vibetuner.services.backup import (  # pymongo: kept off the CLI's startup
        backup_folder,
        storage_folder,
        stored_backups,
    )
    from vibetuner.services.storage import get_storage  # boto: kept off the CLI's startup

    async def work() -> tuple[list[str], list[str]]:
        db, storage = get_database(), get_storage()
        own = await stored_backups(storage, await backup_folder(db, create=False))
        return own, await stored_backups(storage, storage_folder(db.name))

    own, older = run_with_app_database(work)
    if not own and not older:
        typer.echo("No backups in storage. Make one: vibetuner db backup --to-storage")
    for key in own:
        typer.echo(key)
    if older:
        typer.echo("Older backups, from before each database named its own folder (never "
                   "pruned; `db restore KEY --from-storage` restores one):")  # fmt: skip
        for key in older:
            typer.echo(key)


def _confirm_drop(archive: str) -> None:
    """`--drop` replaces data, and a wrong .env points it at the wrong database: name the
    target and ask; without a terminal to ask on, only --yes goes on."""
    reset_settings()
    url = get_settings().database_url
    target = redact_url(url) if url else "the embedded development database (.vibetuner/db)"
    what = f"`db restore --drop` replaces the collections in {archive} at {target}"
    if not sys.stdin.isatty():
        raise ConfigError(
            f"{what}; nothing was restored.",
            fix="Check that this is the database you mean (back it up first with "
            "`vibetuner db backup`), then add --yes.",
        )
    if not typer.confirm(f"{what}. Go on?", default=False):
        typer.echo("Nothing was restored.")
        raise typer.Exit(1)
