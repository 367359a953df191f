"""Backups in blob storage (local or S3): one folder per database, pruned to BACKUP_KEEP.

The folder is `backups/<database>-<8 hex>`, named once, at the database's first backup to
storage, and recorded in the database itself: two deployments that share a bucket and a
database name (staging and production, both `app`) keep and prune only their own archives,
whatever host names reach them. Backups from before this scheme sit in `backups/<database>`:
listed as older ones, never pruned.
"""

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

from pymongo import ReturnDocument

from vibetuner.services.backup._archive import CHUNK, ArchiveRefused
from vibetuner.services.backup._dump import (
    FOLDER_COLLECTION,
    BackupSummary,
    Progress,
    backup_database,
)
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


FOLDER_ID = "folder"
FOLDER_NAME = re.compile(rf"^{KEY_PREFIX}/[A-Za-z0-9_-]{{1,100}}-[0-9a-f]{{8}}$")


def storage_folder(database: str) -> str:
    """`backups/<database>`: where backups were kept before each database named its own."""
    return f"{KEY_PREFIX}/{_safe(database)}"


def _safe(database: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", database)[:100] or "database"


async def backup_folder(db: AsyncDatabase[dict[str, Any]], *, create: bool = True) -> str | None:
    """This database's own folder in storage, named at its first backup (None when it has
    none yet and `create` is off)."""
    markers = db[FOLDER_COLLECTION]
    if create:
        new = f"{KEY_PREFIX}/{_safe(db.name)}-{secrets.token_hex(4)}"
        found = await markers.find_one_and_update(
            {"_id": FOLDER_ID}, {"$setOnInsert": {"folder": new}},
            upsert=True, return_document=ReturnDocument.AFTER,
        )  # fmt: skip
    else:
        found = await markers.find_one({"_id": FOLDER_ID})
    if found is None:
        return None
    folder = found.get("folder")
    if not isinstance(folder, str) or not FOLDER_NAME.match(folder):
        raise ArchiveRefused(
            f"The backup folder recorded in the collection {FOLDER_COLLECTION} ({folder!r}) "
            "is not one vibetuner names.",
            fix="Delete that collection's document; the next backup names a new folder.",
        )
    return folder


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


async def stored_backups(storage: Storage, folder: str | None) -> list[str]:
    """The archives in `folder` (a `backup_folder`, or the older `storage_folder`), oldest
    first."""
    if folder is None:
        return []
    keys = await storage.keys(folder)
    return [key for key in keys if ARCHIVE_NAME.match(key.rsplit("/", 1)[-1])]


async def prune_backups(storage: Storage, folder: str, *, keep: int) -> list[str]:
    """Delete all but the newest `keep` archives in `folder`; the keys deleted."""
    if keep < 1:
        raise ValueError("keep at least one backup")
    old = (await stored_backups(storage, folder))[:-keep]
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
    folder = await backup_folder(db)
    assert folder is not None  # created when missing
    key = f"{folder}/{name}"
    with tempfile.TemporaryDirectory(prefix="vibetuner-backup-") as scratch:
        summary = await backup_database(db, Path(scratch) / name, progress=progress)
        stored = await storage.put(key, _chunks(summary.path), content_type=CONTENT_TYPE,
                                   filename=name)  # fmt: skip
    pruned = await prune_backups(storage, folder, keep=keep)
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
