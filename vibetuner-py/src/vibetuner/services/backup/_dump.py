"""Back up a database: every collection's raw BSON, its options and indexes, into one archive.

Documents are copied as the server stores them (raw BSON batches, never decoded), so every
type comes back as it was: ObjectId, Int64, Decimal128, binary subtypes, dates, regexes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import bson
from pymongo.errors import OperationFailure, PyMongoError

from vibetuner import __version__
from vibetuner.data.migrations import RECORD_COLLECTION
from vibetuner.data.migrations._lock import LOCK_COLLECTION
from vibetuner.services.backup._archive import (
    FORMAT,
    FORMAT_VERSION,
    PART_BYTES,
    ArchiveWriter,
    BackupError,
    count_documents,
    part_name,
    reason,
    split_documents,
)

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession
    from pymongo.asynchronous.database import AsyncDatabase

PARKED_PREFIX = "vibetuner_replaced_"
"""Live collections a restore set aside; dropped once the archive is loaded in their place."""
SKIPPED_PREFIXES = ("system.", PARKED_PREFIX)
FOLDER_COLLECTION = "vibetuner_backup_folder"
"""Names this database's folder in blob storage (see `_stored.backup_folder`)."""
SKIPPED = frozenset({LOCK_COLLECTION, FOLDER_COLLECTION})
"""The migration lock is a lease of the running process, not data: a restored one would
hold up the migrations that follow the restore. The backup folder belongs to the database
backed up: restored into another one (production's data into staging), it would have that
one keep and prune its backups among the first one's."""
SNAPSHOT_TOO_OLD = 239
BATCH = 5000
"""Documents per server batch: what one progress step counts (a batch stays under 16 MB)."""
MIGRATION_NUMBER = re.compile(r"^([0-9]+)_")

READ_SNAPSHOT = "snapshot per collection"
READ_PLAIN = "plain per collection"


class Progress(Protocol):
    """What the CLI's progress bars hear: one collection at a time."""

    def start(self, collection: str, total: int) -> None: ...

    def advance(self, collection: str, documents: int) -> None: ...

    def finish(self, collection: str, documents: int) -> None: ...


class Silent:
    """Progress nobody watches (the scheduled job)."""

    def start(self, collection: str, total: int) -> None:
        pass

    def advance(self, collection: str, documents: int) -> None:
        pass

    def finish(self, collection: str, documents: int) -> None:
        pass


@dataclass(frozen=True)
class BackupSummary:
    """What one backup wrote."""

    path: Path
    size: int
    collections: int
    documents: int
    migration: str | None
    read: str


def migration_order(name: str) -> tuple[int, str]:
    """`0010_x` after `0009_y`; names without a number last."""
    found = MIGRATION_NUMBER.match(name)
    return (int(found.group(1)) if found else 1 << 62, name)


def backed_up(name: str) -> bool:
    return name not in SKIPPED and not name.startswith(SKIPPED_PREFIXES)


async def read_mode(db: AsyncDatabase[dict[str, Any]]) -> str:
    """Snapshot reads where the server offers them (replica sets, sharded clusters)."""
    hello = await db.client.admin.command("hello")
    return READ_SNAPSHOT if hello.get("setName") or hello.get("msg") == "isdbgrid" else READ_PLAIN


@contextlib.asynccontextmanager
async def _session(
    db: AsyncDatabase[dict[str, Any]], mode: str
) -> AsyncIterator[AsyncClientSession | None]:
    if mode != READ_SNAPSHOT:
        yield None
        return
    async with db.client.start_session(snapshot=True) as session:
        yield session


async def _indexes(db: AsyncDatabase[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    found = []
    async for index in await db[name].list_indexes():
        spec = dict(index)
        spec.pop("ns", None)
        found.append(spec)
    return found


class _Dumper:
    """One backup in progress: the archive, and what the manifest will say."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        writer: ArchiveWriter,
        mode: str,
        progress: Progress,
        part_bytes: int,
    ) -> None:
        self.db = db
        self.part_bytes = part_bytes
        self.writer = writer
        self.mode = mode
        self.progress = progress
        self.applied: list[str] = []

    async def collection(self, ordinal: int, info: Mapping[str, Any]) -> dict[str, Any]:
        name = str(info["name"])
        options = dict(info.get("options") or {})
        if info.get("type", "collection") == "view":
            return {"name": name, "type": "view", "options": options}
        if info.get("type", "collection") != "collection":
            raise BackupError(
                f"{name} is a {info.get('type')} collection, which backups do not cover.",
                fix="Back that database up with mongodump, or move the data to a collection.",
            )
        indexes = await _indexes(self.db, name)
        total = await self.db[name].estimated_document_count()
        self.progress.start(name, total)
        started = datetime.now(UTC)
        parts: list[dict[str, Any]] = []
        buffer = bytearray()
        count = 0
        try:
            async with _session(self.db, self.mode) as session:
                cursor = self.db[name].find_raw_batches({}, session=session, batch_size=BATCH)
                async for raw in cursor:
                    batch = cast("bytes", raw)  # typed as documents; raw batches are bytes
                    if name == RECORD_COLLECTION:
                        self.applied += [str(d["_id"]) for d in bson.decode_all(batch)]
                    documents = 0
                    for document in split_documents(batch):
                        buffer += document
                        documents += 1
                        if len(buffer) >= self.part_bytes:
                            parts.append(await self._part(ordinal, len(parts) + 1, buffer))
                            buffer = bytearray()
                    count += documents
                    self.progress.advance(name, documents)
        except PyMongoError as exc:
            if isinstance(exc, OperationFailure) and exc.code == SNAPSHOT_TOO_OLD:
                raise BackupError(
                    f"Reading {name} outlasted the server's snapshot history, so it cannot be "
                    "read at one point in time; no archive was written.",
                    fix="Raise minSnapshotHistoryWindowInSeconds on the replica set (e.g. "
                    "db.adminCommand({setParameter: 1, minSnapshotHistoryWindowInSeconds: "
                    "3600})), then back up again.",
                ) from exc
            raise BackupError(
                f"Reading {name} failed: {reason(exc)}; no archive was written.",
                fix="Check that the database is reachable, then back up again.",
            ) from exc
        if buffer or not parts:
            parts.append(await self._part(ordinal, len(parts) + 1, buffer))
        self.progress.finish(name, count)
        return {"name": name, "type": "collection", "options": options, "indexes": indexes,
                "count": count, "read_started": started, "read_finished": datetime.now(UTC),
                "parts": parts}  # fmt: skip

    async def _part(self, ordinal: int, number: int, buffer: bytearray) -> dict[str, Any]:
        name = part_name(ordinal, number)
        data = bytes(buffer)
        digest = await asyncio.to_thread(self.writer.add, name, data)
        return {"file": name, "count": count_documents(data), "bytes": len(data),
                "sha256": digest}  # fmt: skip


async def backup_database(
    db: AsyncDatabase[dict[str, Any]],
    path: Path,
    *,
    progress: Progress | None = None,
    part_bytes: int = PART_BYTES,
) -> BackupSummary:
    """Write the archive to `path` (complete, or not at all) and say what it holds.

    Documents are cut into parts of about `part_bytes`: what the backup holds in memory.
    """
    if not 0 < part_bytes <= PART_BYTES:
        raise ValueError(f"part_bytes must be between 1 and {PART_BYTES}")
    mode = await read_mode(db)
    listed = [info async for info in await db.list_collections()]
    infos = sorted(
        (info for info in listed if backed_up(str(info["name"]))), key=lambda i: str(i["name"])
    )
    writer = await asyncio.to_thread(ArchiveWriter, path)
    try:
        dumper = _Dumper(db, writer, mode, progress or Silent(), part_bytes)
        entries = [await dumper.collection(n, info) for n, info in enumerate(infos)]
        applied = sorted(dumper.applied, key=migration_order)
        version = applied[-1] if applied else None
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC),
            "vibetuner": __version__,
            "database": db.name,
            "read": mode,
            "migrations": {"version": version, "applied": applied},
            "collections": entries,
        }
        await asyncio.to_thread(writer.finish, manifest)
    except BaseException:
        await asyncio.shield(asyncio.to_thread(writer.abort))
        raise
    documents = sum(int(entry.get("count", 0)) for entry in entries)
    size = (await asyncio.to_thread(path.stat)).st_size
    return BackupSummary(path, size, len(entries), documents, version, mode)
