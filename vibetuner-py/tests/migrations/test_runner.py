"""Migrations against a real SecantusDB: order, records, failures, rollback and the lease lock."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.data.migrations import (
    create,
    discover,
    migrate,
    migration_lock,
    migration_status,
    rollback,
)
from vibetuner.exceptions import MigrationError

Db = AsyncDatabase[dict[str, Any]]

COUNTING = """
async def up(db):
    await db["counter"].update_one({{"_id": "n"}}, {{"$inc": {{"{field}": 1}}}})


async def down(db):
    await db["counter"].update_one({{"_id": "n"}}, {{"$inc": {{"{field}": -1}}}})
"""


@pytest.fixture
async def db(vibetuner_mongo: EmbeddedMongo) -> AsyncIterator[Db]:
    url = f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}/"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    database = client[f"mig_{uuid.uuid4().hex[:8]}"]
    await database["counter"].insert_one({"_id": "n"})
    try:
        yield database
    finally:
        await client.close()


def write(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


def counting(folder: Path, *names: str) -> None:
    for name in names:
        write(folder, name, COUNTING.format(field=name))


async def counts(db: Db) -> dict[str, int]:
    doc = await db["counter"].find_one({"_id": "n"})
    assert doc is not None
    return {k: v for k, v in doc.items() if k != "_id"}


async def test_each_migration_applies_once_in_order_and_is_recorded(db: Db, tmp_path: Path) -> None:
    counting(tmp_path, "0002_second", "0001_first", "0010_tenth")
    seen: list[str] = []
    applied = await migrate(db, tmp_path, on_applied=lambda name, _s: seen.append(name))
    assert applied == seen == ["0001_first", "0002_second", "0010_tenth"]
    assert await migrate(db, tmp_path) == []
    assert await counts(db) == {"0001_first": 1, "0002_second": 1, "0010_tenth": 1}
    records = await db["migrations"].find({}).sort("applied_at").to_list()
    assert [r["name"] for r in records] == applied
    assert all(r["_id"] == r["name"] and r["duration"] >= 0 for r in records)
    assert all(isinstance(r["applied_at"], datetime) for r in records)


async def test_status_lists_applied_then_pending_and_missing_files(db: Db, tmp_path: Path) -> None:
    counting(tmp_path, "0001_a", "0002_b")
    await migrate(db, tmp_path, to="0001")
    counting(tmp_path, "0003_c")
    (tmp_path / "0001_a.py").unlink()
    states = await migration_status(db, tmp_path)
    assert [(s.name, s.applied, s.file_missing) for s in states] == [
        ("0002_b", False, False),
        ("0003_c", False, False),
        ("0001_a", True, True),
    ]


async def test_a_failing_migration_stops_the_run_and_is_not_recorded(
    db: Db, tmp_path: Path
) -> None:
    counting(tmp_path, "0001_ok", "0003_after")
    write(tmp_path, "0002_broken", """
        async def up(db):
            raise ValueError("no such field")
    """)  # fmt: skip
    with pytest.raises(MigrationError) as failed:
        await migrate(db, tmp_path)
    assert "0002_broken failed in up: ValueError: no such field (line 3)" in failed.value.message
    assert failed.value.fix and "0002_broken.py" in failed.value.fix
    states = {s.name: s.applied for s in await migration_status(db, tmp_path)}
    assert states == {"0001_ok": True, "0002_broken": False, "0003_after": False}
    assert await counts(db) == {"0001_ok": 1}
    assert await db["migration_lock"].count_documents({}) == 0, "the lock is released"


async def test_a_file_that_does_not_import_names_its_line(db: Db, tmp_path: Path) -> None:
    write(tmp_path, "0001_typo", "async def up(db)\n    pass\n")
    with pytest.raises(MigrationError, match=r"Cannot load migration 0001_typo: SyntaxError"):
        await migrate(db, tmp_path)
    write(tmp_path, "0001_typo", "def helper():\n    pass\n")
    with pytest.raises(MigrationError, match="has no `up` function"):
        await migrate(db, tmp_path)


async def test_rollback_runs_down_newest_first(db: Db, tmp_path: Path) -> None:
    counting(tmp_path, "0001_a", "0002_b", "0003_c")
    await migrate(db, tmp_path)
    assert await rollback(db, tmp_path) == ["0003_c"]
    assert await rollback(db, tmp_path, to="0001_a") == ["0002_b"]
    assert await counts(db) == {"0001_a": 1, "0002_b": 0, "0003_c": 0}
    assert [s.name for s in await migration_status(db, tmp_path) if s.applied] == ["0001_a"]
    write(tmp_path, "0004_one_way", "async def up(db):\n    pass\n")
    await migrate(db, tmp_path, to="0001_a")
    assert await migrate(db, tmp_path) == ["0002_b", "0003_c", "0004_one_way"]
    with pytest.raises(MigrationError, match="0004_one_way has no `down`"):
        await rollback(db, tmp_path)


async def test_unknown_target_and_duplicate_numbers_are_explained(db: Db, tmp_path: Path) -> None:
    counting(tmp_path, "0001_a")
    with pytest.raises(MigrationError, match="No migration named '0009'"):
        await migrate(db, tmp_path, to="0009")
    counting(tmp_path, "0001_b")
    with pytest.raises(MigrationError, match="Two migrations share number 1") as dup:
        discover(tmp_path)
    assert dup.value.fix and "0001_b.py" in dup.value.fix


async def test_a_crashed_holders_lock_is_taken_over_after_its_lease(db: Db, tmp_path: Path) -> None:
    counting(tmp_path, "0001_a")
    past = datetime.now(UTC) - timedelta(seconds=1)
    await db["migration_lock"].insert_one({"_id": "migrate", "owner": "dead", "expires_at": past})
    waited: list[bool] = []
    assert await migrate(db, tmp_path, on_wait=lambda: waited.append(True)) == ["0001_a"]
    assert waited == []


async def test_a_live_lock_makes_others_wait_then_give_up(db: Db, tmp_path: Path) -> None:
    counting(tmp_path, "0001_a")
    waited: list[bool] = []
    async with migration_lock(db["migration_lock"], wait=1, lease=30):
        with pytest.raises(MigrationError, match="held the migration lock") as held:
            await migrate(db, tmp_path, lock_wait=0.6, on_wait=lambda: waited.append(True))
    assert waited == [True] and held.value.fix
    assert await counts(db) == {}
    assert await migrate(db, tmp_path, lock_wait=0) == ["0001_a"], "released after the block"


async def test_the_holder_renews_its_lease_while_it_works(db: Db) -> None:
    async with migration_lock(db["migration_lock"], wait=1, lease=0.6) as lease:
        import asyncio

        await asyncio.sleep(1.0)  # longer than the lease: only renewal keeps it
        doc = await db["migration_lock"].find_one({"_id": "migrate"})
        assert doc is not None and doc["owner"] == lease.owner
        assert doc["expires_at"] > datetime.now(UTC)
        assert not lease.lost
    assert await db["migration_lock"].count_documents({}) == 0


def test_create_numbers_files_and_makes_the_package(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    first = create(folder, ["Add", "slug!"])
    second = create(folder, ["backfill", "slugs"])
    assert (first.name, second.name) == ("0001_add_slug.py", "0002_backfill_slugs.py")
    assert (folder / "__init__.py").is_file()
    text = first.read_text()
    assert '"""Add slug."""' in text and "async def up(" in text and "async def down(" in text
    compile(text, str(first), "exec")
    with pytest.raises(MigrationError, match="empty migration name"):
        create(folder, ["!!!"])


async def test_a_new_migration_refuses_to_run_until_written(db: Db, tmp_path: Path) -> None:
    create(tmp_path, ["add", "slug"])
    with pytest.raises(MigrationError, match=r"NotImplementedError: Write 0001_add_slug\.up"):
        await migrate(db, tmp_path)
