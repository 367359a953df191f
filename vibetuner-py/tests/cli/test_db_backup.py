"""`vibetuner db backup|restore|backups` as real processes against SecantusDB."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from vibetuner.data._embedded import EmbeddedMongo

from .test_db import Project

MIGRATION = "async def up(db):\n    await db['notes'].update_many({}, {'$set': {'tag': 'new'}})\n"


@pytest.fixture
def project(tmp_path: Path, vibetuner_mongo: EmbeddedMongo) -> Project:
    return Project(tmp_path, vibetuner_mongo)


def _seed(project: Project, notes: int = 6000) -> None:
    with project.db() as client:
        db = client[project.name]
        db["notes"].insert_many([{"n": n, "text": f"note {n}"} for n in range(notes)])
        db["notes"].create_index("n", unique=True)
        db["people"].insert_one({"name": "Ada"})
        db["migrations"].insert_one({"_id": "0001_seed", "name": "0001_seed"})


def _no_traceback(result: object) -> None:
    assert "Traceback" not in getattr(result, "stderr", "")


def test_backup_then_restore_migrates_forward_with_progress(project: Project) -> None:
    _seed(project)
    project.write("0001_seed", "async def up(db):\n    raise AssertionError('applied')\n")
    archive = project.root / "backups" / "before.tar.gz"
    made = project.run("db", "backup", "--out", str(archive), TTY_COMPATIBLE="1")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(
        f"Backed up 3 collections, 6,002 documents (0001_seed) to {archive} ("
    )
    assert "Backing up notes" in made.stderr and "6000/6000" in made.stderr
    assert "Backing up people" not in made.stderr  # small collections get no bar
    assert archive.is_file()

    with project.db() as client:
        client.drop_database(project.name)
    project.write("0002_tag", MIGRATION)
    restored = project.run("db", "restore", str(archive), TTY_COMPATIBLE="1")
    assert restored.returncode == 0, restored.stderr
    lines = restored.stdout.splitlines()
    assert lines[0].startswith("Applied 0002_tag (")
    assert "Restored 3 collections, 6,002 documents (archive at 0001_seed)." in lines
    assert lines[-1] == "Migrated forward: 1 migrations applied."
    assert "Restoring notes" in restored.stderr
    with project.db() as client:
        db = client[project.name]
        assert db["notes"].count_documents({"tag": "new"}) == 6000
        assert "n_1" in db["notes"].index_information()
        assert sorted(db["migrations"].distinct("_id")) == ["0001_seed", "0002_tag"]


def test_restore_drop_names_the_target_and_asks_first(project: Project) -> None:
    """A wrong .env points `--drop` at the wrong database: it says which one and, with no
    terminal to ask on, replaces nothing without --yes."""
    _seed(project, notes=10)
    archive = project.root / "a.tar.gz"
    assert project.run("db", "backup", "--out", str(archive)).returncode == 0
    project.write("0001_seed", "async def up(db):\n    pass\n")
    with project.db() as client:
        client[project.name]["notes"].insert_one({"n": 99, "text": "written after"})
    refused = project.run("db", "restore", str(archive), "--drop")
    assert refused.returncode == 2, refused.stderr
    assert f"replaces the collections in {archive} at {project.url}" in refused.stderr
    assert "nothing was restored" in refused.stderr and "add --yes" in refused.stderr
    _no_traceback(refused)
    with project.db() as client:
        assert client[project.name]["notes"].count_documents({}) == 11
    done = project.run("db", "restore", str(archive), "--drop", "-y")
    assert done.returncode == 0, done.stderr
    with project.db() as client:
        assert client[project.name]["notes"].count_documents({}) == 10


def test_refusals_are_one_clear_error_with_exit_code_2(project: Project) -> None:
    _seed(project, notes=10)
    archive = project.root / "a.tar.gz"
    assert project.run("db", "backup", "--out", str(archive)).returncode == 0
    project.write("0001_seed", "async def up(db):\n    pass\n")

    full = project.run("db", "restore", str(archive))
    assert full.returncode == 2
    assert full.stderr.startswith(
        "Error: Collections migrations (1 document), notes (10 documents), people (1 document) "
        "already hold data; nothing was restored."
    )
    assert "Fix: Pass --drop" in full.stderr

    damaged = project.root / "damaged.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    broken = project.run("db", "restore", str(damaged), "--drop", "--yes")
    assert broken.returncode == 2
    assert broken.stderr.startswith(f"Error: The archive {damaged} is damaged:")

    (project.migrations / "0001_seed.py").unlink()
    # 0001_seed is not in the code:
    newer = project.run("db", "restore", str(archive), "--drop", "--yes")
    assert newer.returncode == 2
    assert "Error: The archive's database is at migration 0001_seed, which this code does not" \
        in newer.stderr  # fmt: skip

    missing = project.run("db", "restore", str(project.root / "nope.tar.gz"))
    assert missing.returncode == 2 and "Error: No archive at" in missing.stderr

    not_gzip = project.root / "plain.tar.gz"
    not_gzip.write_bytes(gzip.decompress(archive.read_bytes())[:2000])
    assert project.run("db", "restore", str(not_gzip)).returncode == 2

    both = project.run("db", "backup", "--out", "x.tar.gz", "--to-storage")
    assert both.returncode == 2 and "Pass --out or --to-storage, not both." in both.stderr
    for result in (full, broken, newer, missing, both):
        _no_traceback(result)
    with project.db() as client:
        assert client[project.name]["notes"].count_documents({}) == 10


def test_to_storage_keeps_backup_keep_and_restores_from_storage(project: Project) -> None:
    _seed(project, notes=20)
    project.write("0001_seed", "async def up(db):\n    pass\n")
    for _ in range(3):
        stored = project.run("db", "backup", "--to-storage", BACKUP_KEEP="2")
        assert stored.returncode == 0, stored.stderr
        assert f"to storage key backups/{project.name}-" in stored.stdout
    assert "Pruned 1 older backups (BACKUP_KEEP=2)." in stored.stdout
    blobs = project.root / ".vibetuner" / "blobs"
    older = blobs / "backups" / project.name / "20240102T030000.000000Z-0a1b2c3d.tar.gz"
    older.parent.mkdir(parents=True)
    older.write_bytes(b"an archive stored before each database named its own folder")
    listed = project.run("db", "backups")
    assert listed.returncode == 0, listed.stderr
    own, _, rest = listed.stdout.partition("Older backups")
    keys = own.split()
    assert len(keys) == 2 and all(k.startswith(f"backups/{project.name}-") for k in keys)
    assert (blobs / keys[-1]).is_file()
    assert rest.split()[-1] == older.relative_to(blobs).as_posix()

    with project.db() as client:
        client[project.name]["notes"].delete_many({})
    restored = project.run("db", "restore", keys[-1], "--from-storage", "--drop", "--yes")
    assert restored.returncode == 0, restored.stderr
    with project.db() as client:
        assert client[project.name]["notes"].count_documents({}) == 20
    gone = project.run("db", "restore", f"backups/{project.name}/gone.tar.gz", "--from-storage")
    assert gone.returncode == 2 and "No backup is stored under" in gone.stderr
