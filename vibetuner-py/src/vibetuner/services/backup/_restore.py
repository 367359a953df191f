"""Restore an archive: check it whole, set the live data aside, load, then drop what was aside.

1. The archive is read once without touching the database: checksums, manifest, and the
   migration version (an archive from newer code is refused).
2. Each live collection the archive replaces is renamed aside, to
   `vibetuner_replaced_<run>.<name>` (views, which cannot be renamed, are dropped and their
   definitions kept).
3. Each collection is created under its own name with the archive's options, filled, and
   given its indexes. Creating it fresh, rather than loading beside it and renaming, keeps
   its options on every server: SecantusDB's renameCollection copies each document and drops
   the collection's options (validator, capped, collation).
4. On any failure the loaded collections are dropped and everything set aside is renamed
   back: the database is as it was; if putting back fails too, the error says which
   collection holds what. Set-aside collections left by a restore that was killed are found
   by the next restore, which names them.
5. The set-aside collections are dropped, and migrations newer than the archive are applied.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bson.raw_bson import RawBSONDocument

from vibetuner.data.migrations import discover, migrate
from vibetuner.exceptions import VibetunerError
from vibetuner.services.backup._archive import (
    PART_NAME,
    ArchiveReader,
    ArchiveRefused,
    BackupError,
    reason,
    split_documents,
    verify_archive,
)
from vibetuner.services.backup._dump import PARKED_PREFIX, Progress, Silent, migration_order

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase

INSERT_BATCH = 1000
MODIFIABLE = ("validator", "validationLevel", "validationAction")
"""Options `collMod` can set again on a collection a rename stripped them from."""
Applied = Callable[[str, float], None]


@dataclass
class RestoreSummary:
    """What a restore did."""

    collections: list[str]
    documents: int
    archive_migration: str | None
    migrated: list[str] = field(default_factory=list)
    leftovers_removed: list[str] = field(default_factory=list)
    """Collections an interrupted restore had set aside, dropped by this one (with --drop)."""
    not_dropped: list[str] = field(default_factory=list)
    """Set-aside collections that could not be dropped after the restore (drop them)."""


def check_migrations(manifest: dict[str, Any], folder: Path) -> list[str]:
    """The code's migrations the archive lacks (applied after the restore); refuses an archive
    that records migrations this code does not have."""
    recorded = manifest.get("migrations") or {}
    applied = [str(name) for name in recorded.get("applied") or []]
    code = discover(folder)
    known = {m.name for m in code}
    unknown = sorted((name for name in applied if name not in known), key=migration_order)
    if unknown:
        newest = code[-1].name if code else "none"
        raise ArchiveRefused(
            f"The archive's database is at migration {recorded.get('version')}, which this "
            f"code does not have (its newest: {newest}; unknown: {', '.join(unknown)}).",
            fix="Restore it with the code that made it, or newer; then roll that code back "
            "with `vibetuner db rollback` if you must.",
        )
    done = set(applied)
    return [m.name for m in code if m.name not in done]


async def _existing(db: AsyncDatabase[dict[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(info["name"]): info async for info in await db.list_collections()}


async def _refuse_overwrite(
    db: AsyncDatabase[dict[str, Any]],
    manifest: dict[str, Any],
    existing: dict[str, Mapping[str, Any]],
) -> None:
    """Without --drop, a restore only fills collections that are missing or empty (and
    replaces views, which hold no data)."""
    occupied = []
    for entry in manifest["collections"]:
        name = entry["name"]
        if name not in existing or existing[name].get("type") == "view":
            continue
        if await db[name].find_one({}, {"_id": 1}) is not None:
            count = await db[name].estimated_document_count()
            occupied.append(f"{name} ({count:,} document{'' if count == 1 else 's'})")
    if occupied:
        raise ArchiveRefused(
            f"{'Collections' if len(occupied) > 1 else 'Collection'} {', '.join(occupied)} "
            f"already {'hold' if len(occupied) > 1 else 'holds'} data; nothing was restored.",
            fix="Pass --drop to replace the collections the archive holds, or restore into "
            "an empty database.",
        )


def _interrupted(existing: dict[str, Mapping[str, Any]], drop: bool) -> list[str]:
    """Collections a killed restore set aside; without --drop, a refusal that names them."""
    left = sorted(name for name in existing if name.startswith(PARKED_PREFIX))
    if left and not drop:
        raise ArchiveRefused(
            "An earlier restore was interrupted: it set aside the old data in "
            f"{', '.join(left)}, and the collections under their own names may hold part of "
            "its archive. Nothing was restored.",
            fix="Run the restore again with --drop (the set-aside copies are dropped once it "
            "succeeds), or rename them back with renameCollection.",
        )
    return left


async def _rename(db: AsyncDatabase[dict[str, Any]], source: str, target: str) -> None:
    await db.client.admin.command(
        "renameCollection", f"{db.name}.{source}", to=f"{db.name}.{target}"
    )


async def _drop_all(db: AsyncDatabase[dict[str, Any]], names: list[str]) -> list[str]:
    """Drop each; the names that could not be dropped."""
    failed = []
    for name in names:
        try:
            await db.drop_collection(name)
        except Exception:
            failed.append(name)
    return failed


class _Restore:
    """One restore run: what it set aside and created, so a failure can be undone."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        path: Path,
        manifest: dict[str, Any],
        progress: Progress,
    ) -> None:
        self.db = db
        self.path = path
        self.manifest = manifest
        self.progress = progress
        self.parked = f"{PARKED_PREFIX}{secrets.token_hex(4)}."
        self.collections = [c for c in manifest["collections"] if c["type"] == "collection"]
        self.by_part = {
            part["file"]: (entry, part) for entry in self.collections for part in entry["parts"]
        }
        self.moved: dict[str, Mapping[str, Any]] = {}  # live name -> its listCollections entry
        self.views: dict[str, Mapping[str, Any]] = {}  # views dropped, with their definitions
        self.created: list[str] = []
        self.step = "setting aside the live collections"

    async def set_aside(self, existing: dict[str, Mapping[str, Any]]) -> None:
        for entry in self.manifest["collections"]:
            info = existing.get(entry["name"])
            if info is None:
                continue
            if info.get("type") == "view":
                await self.db.drop_collection(entry["name"])
                self.views[entry["name"]] = info
            else:
                await _rename(self.db, entry["name"], self.parked + entry["name"])
                self.moved[entry["name"]] = info

    async def load(self) -> int:
        """Create every collection, fill it, build its indexes, add the views; documents."""
        for entry in self.collections:
            self.step = f"creating {entry['name']}"
            await self.db.command({"create": entry["name"], **entry.get("options", {})})
            self.created.append(entry["name"])
        loaded: dict[str, int] = {}
        reader = await asyncio.to_thread(ArchiveReader, self.path)
        try:
            while (member := await asyncio.to_thread(reader.next_member)) is not None:
                if not PART_NAME.match(member[0]):
                    continue
                entry, part = self.by_part[member[0]]
                if entry["name"] not in loaded:
                    loaded[entry["name"]] = 0
                    self.progress.start(entry["name"], int(entry["count"]))
                loaded[entry["name"]] += await self._insert(entry, part, member[1])
        finally:
            await asyncio.to_thread(reader.close)
        for entry in self.collections:
            self.step = f"indexing {entry['name']}"
            count = loaded.get(entry["name"], 0)
            if count != entry["count"]:
                raise BackupError(f"{entry['name']}: loaded {count} of {entry['count']} documents")
            await self._indexes(entry)
            self.progress.finish(entry["name"], count)
        for entry in self.manifest["collections"]:
            if entry["type"] == "view":
                self.step = f"creating the view {entry['name']}"
                await self.db.command({"create": entry["name"], **entry.get("options", {})})
                self.created.append(entry["name"])
        return sum(loaded.values())

    async def _insert(self, entry: dict[str, Any], part: dict[str, Any], data: bytes) -> int:
        self.step = f"loading {entry['name']}"
        if hashlib.sha256(data).hexdigest() != part["sha256"]:
            raise ArchiveRefused(
                f"{part['file']} changed since the archive was checked; the restore was undone.",
                fix="Make sure nothing writes to the archive while it is restored.",
            )
        target = self.db[entry["name"]]
        batch: list[RawBSONDocument] = []
        count = 0
        for raw in split_documents(data):
            batch.append(RawBSONDocument(bytes(raw)))
            if len(batch) >= INSERT_BATCH:
                count += await self._insert_batch(target, entry["name"], batch)
                batch = []
        if batch:
            count += await self._insert_batch(target, entry["name"], batch)
        return count

    async def _insert_batch(self, target: Any, name: str, batch: list[RawBSONDocument]) -> int:
        await target.insert_many(batch, ordered=True, bypass_document_validation=True)
        self.progress.advance(name, len(batch))
        return len(batch)

    async def _indexes(self, entry: dict[str, Any]) -> None:
        specs = [
            {k: v for k, v in index.items() if k not in ("v", "ns")}
            for index in entry.get("indexes", [])
            if index.get("name") != "_id_"
        ]
        if specs:
            await self.db.command({"createIndexes": entry["name"], "indexes": specs})

    async def undo(self) -> list[str]:
        """Drop what was created, put back what was set aside; what could not be, one
        sentence each."""
        problems = [f"{name} holds part of the archive."
                    for name in await _drop_all(self.db, self.created)]  # fmt: skip
        for name, info in self.moved.items():
            try:
                await _rename(self.db, self.parked + name, name)
            except Exception as exc:
                problems.append(f"{name}'s old data is in {self.parked + name} ({reason(exc)}).")
                continue
            problems += await self._options_back(name, info)
        for name, info in self.views.items():
            try:
                await self.db.command({"create": name, **dict(info.get("options") or {})})
            except Exception as exc:
                problems.append(
                    f"The view {name} is gone ({reason(exc)}); it was {info.get('options')}."
                )
        return problems

    async def _options_back(self, name: str, info: Mapping[str, Any]) -> list[str]:
        """Options a rename stripped (SecantusDB's does), set again where collMod can."""
        wanted = dict(info.get("options") or {})
        now = dict((await _existing(self.db)).get(name, {}).get("options") or {})
        if now == wanted:
            return []
        settable = {k: v for k, v in wanted.items() if k in MODIFIABLE}
        if settable:
            await self.db.command({"collMod": name, **settable})
        lost = sorted(k for k in wanted if k not in MODIFIABLE and wanted[k] != now.get(k))
        if not lost:
            return []
        return [f"{name} is back, but this server's rename dropped its {', '.join(lost)}."]


async def restore_database(
    db: AsyncDatabase[dict[str, Any]],
    path: Path,
    *,
    migrations: Path,
    drop: bool = False,
    progress: Progress | None = None,
    on_applied: Applied | None = None,
) -> RestoreSummary:
    """Restore the archive at `path` (see the module's steps); raise with the state on failure.

    `migrations` is the app's migrations folder: an archive at an older migration is
    migrated forward, one at a migration this code lacks is refused.
    """
    manifest = await asyncio.to_thread(verify_archive, path)
    pending = check_migrations(manifest, migrations)
    existing = await _existing(db)
    leftovers = _interrupted(existing, drop)
    if not drop:
        await _refuse_overwrite(db, manifest, existing)
    run = _Restore(db, path, manifest, progress or Silent())
    try:
        await run.set_aside(existing)
        documents = await run.load()
    except BaseException as exc:
        problems = await asyncio.shield(run.undo())
        if isinstance(exc, ArchiveRefused) and not problems:
            raise
        if not isinstance(exc, Exception):
            raise
        if not problems:
            raise BackupError(
                f"Restore failed while {run.step}: {reason(exc)}. Every collection was put "
                "back: the database is as it was.",
                fix="Fix the cause and run the restore again.",
            ) from exc
        raise BackupError(
            f"Restore failed while {run.step}: {reason(exc)}; putting things back failed too. "
            + " ".join(problems),
            fix="Rename the set-aside collections back (renameCollection), or run the restore "
            "again with --drop.",
        ) from exc
    not_dropped = await _drop_all(db, [run.parked + name for name in run.moved] + leftovers)
    summary = RestoreSummary(
        [c["name"] for c in manifest["collections"]], documents,
        (manifest.get("migrations") or {}).get("version"), [],
        [name for name in leftovers if name not in not_dropped], not_dropped,
    )  # fmt: skip
    if pending:
        try:
            summary.migrated = await migrate(db, migrations, on_applied=on_applied)
        except Exception as exc:
            why = exc.message if isinstance(exc, VibetunerError) else f"{exc}"
            raise BackupError(
                f"The archive was restored (at migration {summary.archive_migration}), but "
                f"migrating it forward failed: {why}",
                fix="Fix the migration, then run `vibetuner db migrate`; the restored data "
                "stays as the archive had it.",
            ) from exc
    return summary
