"""Apply, roll back and report migrations, recording each in the `migrations` collection."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vibetuner.data._mongo_connect import client_options
from vibetuner.data.migrations._files import Migration, describe, discover
from vibetuner.data.migrations._lock import LOCK_COLLECTION, migration_lock
from vibetuner.exceptions import MigrationError

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase

RECORD_COLLECTION = "migrations"
DEFAULT_LOCK_WAIT = 300.0

Report = Callable[[str, float], None]


@dataclass(frozen=True)
class MigrationState:
    """One row of `db status`: a file, a record, or both."""

    name: str
    applied_at: datetime | None = None
    duration: float | None = None
    file_missing: bool = False

    @property
    def applied(self) -> bool:
        return self.applied_at is not None


async def _records(db: AsyncDatabase[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(doc["_id"]): doc async for doc in db[RECORD_COLLECTION].find({})}


async def migration_status(db: AsyncDatabase[dict[str, Any]], folder: Path) -> list[MigrationState]:
    """Every migration in order, applied or pending; records whose file is gone come last."""
    records = await _records(db)
    files = discover(folder)
    states = [
        MigrationState(m.name, records[m.name]["applied_at"], records[m.name].get("duration"))
        if m.name in records
        else MigrationState(m.name)
        for m in files
    ]
    known = {m.name for m in files}
    states += [
        MigrationState(name, doc["applied_at"], doc.get("duration"), file_missing=True)
        for name, doc in sorted(records.items())
        if name not in known
    ]
    return states


def _find(files: list[Migration], target: str) -> Migration:
    for migration in files:
        if target in (migration.name, str(migration.number), f"{migration.number:04d}"):
            return migration
    raise MigrationError(
        f"No migration named {target!r}.",
        fix="Pass a name or number that `vibetuner db status` lists.",
    )


async def _run_step(migration: Migration, direction: str, db: Any) -> float:
    step = migration.step(direction)
    if step is None:
        raise MigrationError(
            f"Migration {migration.name} has no `{direction}` function.",
            fix=f"Define `async def {direction}(db) -> None` in {migration.path}.",
        )
    started = time.perf_counter()
    try:
        await step(db)
    except Exception as exc:
        raise MigrationError(
            f"Migration {migration.name} failed in {direction}: {describe(exc, migration.path)}",
            fix=f"Fix {migration.path} and run it again; it was not recorded, and later "
            "migrations did not run.",
        ) from exc
    return time.perf_counter() - started


async def migrate(
    db: AsyncDatabase[dict[str, Any]],
    folder: Path,
    *,
    to: str | None = None,
    lock_wait: float = DEFAULT_LOCK_WAIT,
    lease: float | None = None,
    on_wait: Callable[[], None] | None = None,
    on_applied: Report | None = None,
) -> list[str]:
    """Apply pending migrations in order (up to `to`, inclusive) under the lock."""
    files = discover(folder)
    if to is not None:
        last = _find(files, to)
        files = [m for m in files if (m.number, m.name) <= (last.number, last.name)]
    options = {"lease": lease} if lease else {}
    applied: list[str] = []
    async with migration_lock(
        db[LOCK_COLLECTION], wait=lock_wait, on_wait=on_wait, **options
    ) as held:
        done = set(await _records(db))  # read under the lock: another instance may have run them
        for migration in files:
            if migration.name in done:
                continue
            held.check()
            duration = await _run_step(migration, "up", db)
            record = {"_id": migration.name, "name": migration.name,
                      "applied_at": datetime.now(UTC), "duration": round(duration, 4)}  # fmt: skip
            await db[RECORD_COLLECTION].insert_one(record)
            applied.append(migration.name)
            if on_applied is not None:
                on_applied(migration.name, duration)
    return applied


async def rollback(
    db: AsyncDatabase[dict[str, Any]],
    folder: Path,
    *,
    steps: int = 1,
    to: str | None = None,
    lock_wait: float = DEFAULT_LOCK_WAIT,
    on_wait: Callable[[], None] | None = None,
    on_reverted: Report | None = None,
) -> list[str]:
    """Run `down` of the newest applied migrations (all after `to`, else the last `steps`)."""
    files = discover(folder)
    reverted: list[str] = []
    async with migration_lock(db[LOCK_COLLECTION], wait=lock_wait, on_wait=on_wait) as held:
        done = set(await _records(db))
        applied = [m for m in files if m.name in done]
        if to is not None:
            keep = _find(files, to)
            targets = [m for m in applied if (m.number, m.name) > (keep.number, keep.name)]
        else:
            targets = applied[-steps:] if steps > 0 else []
        for migration in reversed(targets):
            held.check()
            duration = await _run_step(migration, "down", db)
            await db[RECORD_COLLECTION].delete_one({"_id": migration.name})
            reverted.append(migration.name)
            if on_reverted is not None:
                on_reverted(migration.name, duration)
    return reverted


def pending_names(url: str, database: str, folder: Path, timeout_ms: int = 2000) -> list[str]:
    """Migrations not yet applied, read with a short-lived sync client (for `doctor`)."""
    from pymongo import MongoClient  # pymongo: kept off the CLI's startup

    files = discover(folder)
    if not files:
        return []
    client: MongoClient[dict[str, Any]] = MongoClient(
        url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, **client_options()
    )
    try:
        done = {str(doc["_id"]) for doc in client[database][RECORD_COLLECTION].find({}, {"_id": 1})}
    finally:
        client.close()
    return [m.name for m in files if m.name not in done]
