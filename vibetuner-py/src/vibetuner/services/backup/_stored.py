"""Backups in blob storage (local or S3): one folder per database, pruned to BACKUP_KEEP."""

from __future__ import annotations

import asyncio
import re
import secrets
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from vibetuner.services.backup._archive import CHUNK, ArchiveRefused
from vibetuner.services.backup._dump import BackupSummary, Progress, backup_database
from vibetuner.services.storage import BlobNotFound, Storage

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase

KEY_PREFIX = "backups"
ARCHIVE_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9a-f]{8}\.tar\.gz$")
"""`20250102T030000.000123Z-1a2b3c4d.tar.gz`: names sort in the order they were taken."""
CONTENT_TYPE = "application/gzip"


@dataclass(frozen=True)
class StoredBackup:
    """One backup stored in blob storage, and the old ones pruned after it."""

    key: str
    size: int
    sha256: str
    summary: BackupSummary
    pruned: list[str]


def storage_folder(database: str) -> str:
    """`backups/<database>`: apps that share a bucket keep (and prune) only their own."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", database)[:100] or "database"
    return f"{KEY_PREFIX}/{safe}"


def archive_name(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}.{now.microsecond:06d}Z-{secrets.token_hex(4)}.tar.gz"


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    handle: BinaryIO = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def stored_backups(storage: Storage, database: str) -> list[str]:
    """The database's archives in storage, oldest first."""
    keys = await storage.keys(storage_folder(database))
    return [key for key in keys if ARCHIVE_NAME.match(key.rsplit("/", 1)[-1])]


async def prune_backups(storage: Storage, database: str, *, keep: int) -> list[str]:
    """Delete all but the newest `keep` archives of the database; the keys deleted."""
    if keep < 1:
        raise ValueError("keep at least one backup")
    old = (await stored_backups(storage, database))[:-keep]
    for key in old:
        await storage.delete(key)
    return old


async def backup_to_storage(
    db: AsyncDatabase[dict[str, Any]],
    storage: Storage,
    *,
    keep: int,
    progress: Progress | None = None,
) -> StoredBackup:
    """Back up into a temporary file (under TMPDIR), store it, then prune to `keep`.

    Pruning runs only after the new archive is stored, so a failed backup never costs an
    old one.
    """
    name = archive_name()
    key = f"{storage_folder(db.name)}/{name}"
    with tempfile.TemporaryDirectory(prefix="vibetuner-backup-") as scratch:
        summary = await backup_database(db, Path(scratch) / name, progress=progress)
        stored = await storage.put(key, _chunks(summary.path), content_type=CONTENT_TYPE,
                                   filename=name)  # fmt: skip
    pruned = await prune_backups(storage, db.name, keep=keep)
    return StoredBackup(key, stored.size, stored.sha256, summary, pruned)


async def fetch_backup(storage: Storage, key: str, path: Path) -> Path:
    """Download a stored archive to `path` for `restore --from-storage`."""
    try:
        await storage.download(key, path)
    except BlobNotFound:
        raise ArchiveRefused(
            f"No backup is stored under {key!r}.",
            fix="List them with `vibetuner db backups`.",
        ) from None
    return path
