"""Backups against the real embedded server: round trip, refusals, failures, storage."""

from __future__ import annotations

import asyncio
import gzip
import io
import os
import tarfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import Decimal128, Int64
from pymongo import MongoClient
from pymongo.asynchronous.database import AsyncDatabase

from vibetuner.services.backup import (
    ArchiveRefused,
    BackupError,
    backup_database,
    backup_folder,
    backup_to_storage,
    fetch_backup,
    restore_database,
    stored_backups,
    verify_archive,
)
from vibetuner.services.backup._archive import decode_json
from vibetuner.services.storage import LocalStorage, S3Storage, Storage
from vibetuner.testing._s3 import REGION, S3Server

from .backup_support import (
    FailpointServer,
    async_client,
    record_migrations,
    seed,
    snapshot,
    write_migration,
)


@pytest.fixture
async def db(vibetuner_mongo: Any) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client = async_client(f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}")
    try:
        yield client[f"backup_{uuid.uuid4().hex[:8]}"]
    finally:
        await client.close()


@pytest.fixture(scope="module")
def failpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FailpointServer]:
    with FailpointServer(tmp_path_factory.mktemp("failpoints")) as server:
        yield server


@pytest.fixture
async def fragile(failpoints: FailpointServer) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """A database on the failpoint server, reached by a client named `restorer`."""
    client = async_client(failpoints.url, app="restorer")
    try:
        yield client[f"fragile_{uuid.uuid4().hex[:8]}"]
    finally:
        failpoints.clear()
        await client.close()


async def _small(db: AsyncDatabase[dict[str, Any]]) -> None:
    await seed(db, users=300, events=300, notes=40)


# SecantusDB inserts cost ~0.2 ms a document, so 50k documents take ~30 s alone and far longer
# on a loaded 2-core machine: slow (its module starts first) with a longer timeout.
@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_round_trip_keeps_documents_types_and_indexes(
    db: AsyncDatabase[dict[str, Any]], tmp_path: Path
) -> None:
    started = time.monotonic()
    seeded = await seed(db, users=15_000, events=30_000, notes=5_000)
    assert seeded.documents > 50_000
    await record_migrations(db, "0001_first", "0002_second")
    before = await snapshot(db)
    seen: dict[str, int] = {}

    class Counting:
        def start(self, collection: str, total: int) -> None:
            seen[collection] = 0

        def advance(self, collection: str, documents: int) -> None:
            seen[collection] += documents

        def finish(self, collection: str, documents: int) -> None:
            assert seen[collection] == documents

    archive = tmp_path / "out" / "backup.tar.gz"
    summary = await backup_database(db, archive, progress=Counting(), part_bytes=512 * 1024)
    assert summary.documents == seeded.documents + 2 and summary.migration == "0002_second"
    assert seen["users"] == 15_000 and seen["events"] == 30_000
    assert not list(archive.parent.glob("*.partial"))
    manifest = verify_archive(archive)
    users = next(c for c in manifest["collections"] if c["name"] == "users")
    assert len(users["parts"]) > 1, "a large collection is cut into parts"
    assert manifest["migrations"] == {"version": "0002_second",
                                      "applied": ["0001_first", "0002_second"]}  # fmt: skip

    await db.client.drop_database(db.name)
    assert await db.list_collection_names() == []
    migrations = tmp_path / "migrations"
    write_migration(migrations, "0001_first")
    write_migration(migrations, "0002_second")
    restored = await restore_database(db, archive, migrations=migrations, progress=Counting())
    assert restored.documents == seeded.documents + 2 and restored.migrated == []

    after = await snapshot(db)
    assert sorted(after) == sorted(before)
    for name, entry in before.items():
        assert after[name] == entry, f"{name} differs after the round trip"
    user = await db.users.find_one({"email": "user7@example.com"})
    assert user is not None
    assert isinstance(user["balance"], Decimal128) and isinstance(user["visits"], Int64)
    assert user["token"].subtype == 4 and user["created"].tzinfo is not None
    print(f"round trip of {seeded.documents:,} documents: {time.monotonic() - started:.1f} s")


async def test_a_corrupted_archive_is_refused_and_the_database_untouched(
    db: AsyncDatabase[dict[str, Any]], tmp_path: Path
) -> None:
    await _small(db)
    archive = tmp_path / "good.tar.gz"
    await backup_database(db, archive)
    await db.users.insert_one({"email": "after-the-backup@example.com"})
    before = await snapshot(db)

    flipped = tmp_path / "flipped.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    with pytest.raises(ArchiveRefused, match="is damaged") as refused:
        await restore_database(db, flipped, migrations=tmp_path / "none", drop=True)
    assert refused.value.exit_code == 2 and "Nothing was restored" in refused.value.message
    assert await snapshot(db) == before

    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ArchiveRefused, match="is damaged"):
        await restore_database(db, truncated, migrations=tmp_path / "none", drop=True)
    assert await snapshot(db) == before


def _rewrite(source: Path, target: Path, change: Any) -> None:
    """Copy an archive member by member through `change(name, data) -> data`, gzip intact."""
    out = io.BytesIO()
    with tarfile.open(source, "r:gz") as old, tarfile.open(fileobj=out, mode="w") as new:
        for member in old:
            handle = old.extractfile(member)
            assert handle is not None
            data = change(member.name, handle.read())
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))
    target.write_bytes(gzip.compress(out.getvalue()))


async def test_a_part_changed_inside_a_valid_gzip_fails_its_checksum(
    db: AsyncDatabase[dict[str, Any]], tmp_path: Path
) -> None:
    await _small(db)
    archive = tmp_path / "good.tar.gz"
    await backup_database(db, archive)
    before = await snapshot(db)

    def change_a_value(name: str, data: bytes) -> bytes:
        return data.replace(b"user1@", b"userX@", 1) if name.endswith("000001.bson") else data

    tampered = tmp_path / "tampered.tar.gz"
    _rewrite(archive, tampered, change_a_value)
    with pytest.raises(ArchiveRefused, match=r"checksum of data/.* does not match"):
        await restore_database(db, tampered, migrations=tmp_path / "none", drop=True)
    assert await snapshot(db) == before

    def change_the_manifest(name: str, data: bytes) -> bytes:
        return data.replace(b'"users"', b'"usurp"') if name == "manifest.json" else data

    _rewrite(archive, tampered, change_the_manifest)
    with pytest.raises(ArchiveRefused, match="manifest does not match its checksum"):
        await restore_database(db, tampered, migrations=tmp_path / "none", drop=True)
    assert await snapshot(db) == before


async def test_an_archive_from_newer_code_is_refused(
    db: AsyncDatabase[dict[str, Any]], tmp_path: Path
) -> None:
    await _small(db)
    await record_migrations(db, "0001_first", "0002_second", "0003_newer")
    archive = tmp_path / "newer.tar.gz"
    await backup_database(db, archive)
    await db.users.delete_many({})
    before = await snapshot(db)
    migrations = tmp_path / "migrations"
    write_migration(migrations, "0001_first")
    write_migration(migrations, "0002_second")
    with pytest.raises(ArchiveRefused) as refused:
        await restore_database(db, archive, migrations=migrations, drop=True)
    assert refused.value.exit_code == 2
    assert "at migration 0003_newer, which this code does not have (its newest: 0002_second" in (
        refused.value.message
    )
    assert await snapshot(db) == before


async def test_an_older_archive_is_restored_then_migrated_forward(
    db: AsyncDatabase[dict[str, Any]], tmp_path: Path
) -> None:
    await _small(db)
    await record_migrations(db, "0001_first")
    archive = tmp_path / "older.tar.gz"
    await backup_database(db, archive)
    for name in await db.list_collection_names():
        await db.drop_collection(name)
    migrations = tmp_path / "migrations"
    write_migration(migrations, "0001_first", "    raise AssertionError('already applied')\n")
    write_migration(migrations, "0002_add_slug",
                    "    await db['users'].update_many({}, {'$set': {'slug': 'x'}})\n")  # fmt: skip
    applied: list[str] = []
    summary = await restore_database(
        db, archive, migrations=migrations, on_applied=lambda n, s: applied.append(n)
    )
    assert summary.archive_migration == "0001_first"
    assert summary.migrated == applied == ["0002_add_slug"]
    assert await db.users.count_documents({"slug": "x"}) == 300
    assert sorted(await db.migrations.distinct("_id")) == ["0001_first", "0002_add_slug"]


async def test_a_failing_forward_migration_says_what_state_the_data_is_in(
    db: AsyncDatabase[dict[str, Any]], tmp_path: Path
) -> None:
    await _small(db)
    archive = tmp_path / "older.tar.gz"
    await backup_database(db, archive)
    migrations = tmp_path / "migrations"
    write_migration(migrations, "0001_broken", "    raise KeyError('slug')\n")
    with pytest.raises(BackupError) as failed:
        await restore_database(db, archive, migrations=migrations, drop=True)
    assert (
        "The archive was restored (at migration None), but migrating it forward failed: "
        "Migration 0001_broken failed in up: KeyError: 'slug'" in failed.value.message
    )
    assert await db.users.count_documents({}) == 300


async def test_without_drop_a_restore_only_fills_empty_collections(
    db: AsyncDatabase[dict[str, Any]], tmp_path: Path
) -> None:
    await _small(db)
    archive = tmp_path / "a.tar.gz"
    await backup_database(db, archive)
    before = await snapshot(db)
    with pytest.raises(ArchiveRefused, match=r"Collections events \(300 documents\), notes"):
        await restore_database(db, archive, migrations=tmp_path / "none")
    assert await snapshot(db) == before
    for name in await db.list_collection_names():
        if name != "active_users":
            await db[name].delete_many({})
    await db.drop_collection("active_users")
    await restore_database(db, archive, migrations=tmp_path / "none")
    assert await snapshot(db) == before


async def test_a_failure_while_loading_leaves_the_database_as_it_was(
    fragile: AsyncDatabase[dict[str, Any]], failpoints: FailpointServer, tmp_path: Path
) -> None:
    await _small(fragile)
    archive = tmp_path / "a.tar.gz"
    await backup_database(fragile, archive)
    await fragile.users.insert_one({"email": "newer@example.com"})
    before = await snapshot(fragile)
    failpoints.fail("insert", skip=2, times=1, app="restorer")
    with pytest.raises(BackupError) as failed:
        await restore_database(fragile, archive, migrations=tmp_path / "none", drop=True)
    assert failed.value.message.startswith("Restore failed while loading ")
    assert "full error" not in failed.value.message
    assert "Every collection was put back: the database is as it was." in failed.value.message
    assert await snapshot(fragile) == before, "staging collections were left, or data changed"


async def test_a_failure_while_setting_aside_puts_every_collection_back(
    fragile: AsyncDatabase[dict[str, Any]], failpoints: FailpointServer, tmp_path: Path
) -> None:
    await _small(fragile)
    archive = tmp_path / "a.tar.gz"
    await backup_database(fragile, archive)
    await fragile.users.insert_one({"email": "newer@example.com"})
    await fragile.events.delete_many({"kind": "login"})
    before = await snapshot(fragile)
    # `empty` and `events` are set aside (renamed); the third rename, for `notes`, fails.
    failpoints.fail("renameCollection", skip=2, times=1, app="restorer")
    with pytest.raises(BackupError) as failed:
        await restore_database(fragile, archive, migrations=tmp_path / "none", drop=True)
    assert "Restore failed while setting aside the live collections" in failed.value.message
    assert "Every collection was put back: the database is as it was." in failed.value.message
    assert await snapshot(fragile) == before


async def test_when_putting_back_fails_too_the_error_says_where_everything_is(
    fragile: AsyncDatabase[dict[str, Any]], failpoints: FailpointServer, tmp_path: Path
) -> None:
    await _small(fragile)
    archive = tmp_path / "a.tar.gz"
    await backup_database(fragile, archive)
    await fragile.events.delete_many({"kind": "login"})
    failpoints.fail("renameCollection", skip=2, times=100, app="restorer")
    with pytest.raises(BackupError) as failed:
        await restore_database(fragile, archive, migrations=tmp_path / "none", drop=True)
    message = failed.value.message
    assert "putting things back failed too" in message
    aside = message.split("events's old data is in ", 1)[1].split(" ", 1)[0]
    assert aside.startswith("vibetuner_replaced_")
    failpoints.clear()
    assert await fragile[aside].count_documents({}) == 200  # the old data, where it says
    assert "events" not in await fragile.list_collection_names()

    # The next restore names what the interrupted one left, and --drop finishes the job.
    with pytest.raises(ArchiveRefused, match="An earlier restore was interrupted") as refused:
        await restore_database(fragile, archive, migrations=tmp_path / "none")
    assert aside in refused.value.message
    summary = await restore_database(fragile, archive, migrations=tmp_path / "none", drop=True)
    assert aside in summary.leftovers_removed
    assert await fragile.events.count_documents({}) == 300
    names = await fragile.list_collection_names()
    assert not [name for name in names if name.startswith("vibetuner_replaced_")]


async def test_each_collection_is_read_at_one_point_in_time(
    db: AsyncDatabase[dict[str, Any]], vibetuner_mongo: Any, tmp_path: Path
) -> None:
    """Writes that land while a collection is being read are not in its archive."""
    await _small(db)
    await db.big.insert_many([{"n": n, "pad": "x" * 200} for n in range(5000)])
    url = f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}"
    writer: MongoClient[dict[str, Any]] = MongoClient(url)
    wrote: list[str] = []

    class WriteDuringTheRead:
        def start(self, collection: str, total: int) -> None:
            pass

        def advance(self, collection: str, documents: int) -> None:
            if collection == "big" and not wrote:
                other = writer[db.name]
                other.big.insert_many([{"n": -n} for n in range(1, 500)])
                other.big.delete_many({"n": {"$gte": 4000}})
                other.big.update_many({"n": {"$lt": 1000}}, {"$set": {"pad": "changed"}})
                wrote.append(collection)

        def finish(self, collection: str, documents: int) -> None:
            pass

    archive = tmp_path / "a.tar.gz"
    try:
        await backup_database(db, archive, progress=WriteDuringTheRead())
    finally:
        writer.close()
    assert wrote == ["big"]
    big = next(c for c in verify_archive(archive)["collections"] if c["name"] == "big")
    assert big["count"] == 5000
    await db.drop_collection("big")
    await restore_database(db, archive, migrations=tmp_path / "none", drop=True)
    assert await db.big.count_documents({}) == 5000
    assert await db.big.count_documents({"pad": "changed"}) == 0


async def test_a_failed_backup_leaves_no_archive(
    fragile: AsyncDatabase[dict[str, Any]], failpoints: FailpointServer, tmp_path: Path
) -> None:
    await _small(fragile)
    failpoints.fail("find", skip=1, times=1, app="restorer")
    archive = tmp_path / "out.tar.gz"
    with pytest.raises(BackupError, match=r"failed: .*; no archive was written"):
        await backup_database(fragile, archive)
    assert await asyncio.to_thread(os.listdir, tmp_path) == []


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """Local files, or a real S3 server (SeaweedFS)."""
    store: Storage
    if request.param == "local":
        store = LocalStorage(tmp_path / "blobs", secret="backup-tests")
    else:
        s3: S3Server = request.getfixturevalue("vibetuner_s3")
        store = S3Storage(s3.bucket, endpoint_url=s3.endpoint_url, region=REGION,
                          access_key_id=s3.access_key, secret_access_key=s3.secret_key)  # fmt: skip
    try:
        yield store
    finally:
        await store.close()


async def test_to_storage_keeps_the_newest_and_restores_from_there(
    db: AsyncDatabase[dict[str, Any]], storage: Storage, tmp_path: Path
) -> None:
    await _small(db)
    keys = []
    for n in range(4):
        await db.validated.insert_one({"name": f"run {n}"})
        stored = await backup_to_storage(db, storage, keep=2)
        keys.append(stored.key)
        assert stored.key.startswith(f"backups/{db.name}-") and stored.size > 0
    assert await stored_backups(storage, await backup_folder(db, create=False)) == keys[-2:]
    assert stored.pruned == [keys[1]]
    assert not await storage.exists(keys[0])
    before = await snapshot(db)

    path = await fetch_backup(storage, keys[-1], tmp_path / "fetched.tar.gz")
    await db.validated.delete_many({})
    await restore_database(db, path, migrations=tmp_path / "none", drop=True)
    assert await snapshot(db) == before
    with pytest.raises(ArchiveRefused, match="No backup is stored under"):
        await fetch_backup(storage, f"backups/{db.name}/missing.tar.gz", tmp_path / "x")


async def test_deployments_sharing_a_bucket_and_a_database_name_keep_their_own(
    db: AsyncDatabase[dict[str, Any]],
    failpoints: FailpointServer,
    storage: Storage,
    tmp_path: Path,
) -> None:
    """Production and staging, both `app`, one bucket: each keeps and prunes its own
    archives, and production's data restored into staging leaves staging its own folder."""
    client = async_client(failpoints.url)
    staging = client[db.name]
    try:
        await db.notes.insert_one({"who": "production"})
        await staging.notes.insert_one({"who": "staging"})
        ours = [(await backup_to_storage(db, storage, keep=2)).key for _ in range(2)]
        theirs = await backup_to_storage(staging, storage, keep=2)
        assert theirs.pruned == []  # it used to prune production's oldest
        assert await stored_backups(storage, await backup_folder(db, create=False)) == ours
        folder = await backup_folder(staging, create=False)
        assert folder is not None and theirs.key.startswith(folder + "/")
        assert await stored_backups(storage, folder) == [theirs.key]

        path = await fetch_backup(storage, ours[-1], tmp_path / "production.tar.gz")
        await restore_database(staging, path, migrations=tmp_path / "none", drop=True)
        assert await staging.notes.find_one({}, {"_id": 0}) == {"who": "production"}
        assert await backup_folder(staging, create=False) == folder
    finally:
        await client.close()


async def test_a_tampered_folder_record_is_refused(db: AsyncDatabase[dict[str, Any]]) -> None:
    await db.vibetuner_backup_folder.insert_one({"_id": "folder", "folder": "../../etc"})
    with pytest.raises(ArchiveRefused, match="is not one vibetuner names"):
        await backup_folder(db)


async def test_the_manifest_names_what_it_holds(
    db: AsyncDatabase[dict[str, Any]], tmp_path: Path
) -> None:
    await _small(db)
    await db.migration_lock.insert_one({"_id": "migrate", "owner": "someone"})
    archive = tmp_path / "a.tar.gz"
    summary = await backup_database(db, archive)
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        manifest = decode_json(handle.read())
    assert names[-2:] == ["manifest.json", "manifest.sha256"]
    assert manifest["database"] == db.name and manifest["read"] == summary.read
    kinds = {c["name"]: c["type"] for c in manifest["collections"]}
    assert kinds["active_users"] == "view" and kinds["users"] == "collection"
    assert "migration_lock" not in kinds
