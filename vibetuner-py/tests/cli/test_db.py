"""`vibetuner db ...` as real processes against SecantusDB, including two concurrent starts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from pymongo import MongoClient

from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.server._net import free_port

VIBETUNER = str(Path(sys.executable).parent / "vibetuner")

SLOW_COUNTER = """
import asyncio


async def up(db):
    await db["counter"].update_one({"_id": "runs"}, {"$inc": {"n": 1}})
    await asyncio.sleep(0.4)
"""


class Project:
    """A minimal app folder (src/app) pointed at its own database on the test server."""

    def __init__(self, root: Path, server: EmbeddedMongo) -> None:
        self.root = root
        self.name = f"cli_{uuid.uuid4().hex[:8]}"
        self.url = f"mongodb://{server.host}:{server.port}/{self.name}"
        self.migrations = root / "src" / "app" / "migrations"
        self.migrations.mkdir(parents=True)
        (root / "src" / "app" / "__init__.py").write_text("")
        (self.migrations / "__init__.py").write_text("")

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.root),
            "COLUMNS": "120",
            "VIBETUNER_ENV_FILE": str(self.root / "none.env"),
            "DATABASE_URL": self.url,
            **extra,
        }

    def command(self, *args: str) -> list[str]:
        return [VIBETUNER, *args]

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), cwd=self.root, env=self.env(**env), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def write(self, name: str, body: str) -> None:
        (self.migrations / f"{name}.py").write_text(textwrap.dedent(body))

    def db(self) -> MongoClient[dict[str, object]]:
        return MongoClient(self.url)


@pytest.fixture
def project(tmp_path: Path, vibetuner_mongo: EmbeddedMongo) -> Project:
    return Project(tmp_path, vibetuner_mongo)


def test_create_writes_the_next_numbered_file(project: Project) -> None:
    first = project.run("db", "create", "add", "slug")
    second = project.run("db", "create", "Backfill", "slugs")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.strip() == "Created src/app/migrations/0001_add_slug.py"
    assert (project.migrations / "0002_backfill_slugs.py").is_file()


def test_migrate_applies_once_and_status_reports(project: Project) -> None:
    project.write("0001_seed", 'async def up(db):\n    await db["pages"].insert_one({"t": 1})\n')
    project.write("0002_more", 'async def up(db):\n    await db["pages"].insert_one({"t": 2})\n')
    before = project.run("db", "status")
    assert before.returncode == 0
    assert before.stdout.count("pending   ") == 2 and "0 applied, 2 pending." in before.stdout
    assert project.run("db", "status", "--check").returncode == 1

    applied = project.run("db", "migrate")
    assert applied.returncode == 0, applied.stderr
    lines = applied.stdout.splitlines()
    assert lines[0].startswith("Applied 0001_seed (") and lines[1].startswith("Applied 0002_more")
    assert lines[-1] == "2 migrations applied."
    again = project.run("db", "migrate")
    assert again.stdout.strip() == "No pending migrations."

    after = project.run("db", "status", "--check")
    assert after.returncode == 0 and "2 applied, 0 pending." in after.stdout
    assert after.stdout.splitlines()[0].startswith("applied  20")
    with project.db() as client:
        assert client[project.name]["pages"].count_documents({}) == 2
        records = list(client[project.name]["migrations"].find())
    assert sorted(str(r["name"]) for r in records) == ["0001_seed", "0002_more"]


def test_a_failing_migration_is_one_clear_error_and_not_recorded(project: Project) -> None:
    project.write("0001_fine", "async def up(db):\n    pass\n")
    project.write("0002_bad", "async def up(db):\n    raise KeyError('slug')\n")
    project.write("0003_later", "async def up(db):\n    pass\n")
    result = project.run("db", "migrate")
    assert result.returncode == 1
    assert "Applied 0001_fine" in result.stdout and "0003_later" not in result.stdout
    assert "Error: Migration 0002_bad failed in up: KeyError: 'slug' (line 2)" in result.stderr
    assert "Fix: Fix " in result.stderr and "Traceback" not in result.stderr
    status = project.run("db", "status").stdout
    assert "pending" in status.split("0002_bad")[0].splitlines()[-1]
    assert "1 applied, 2 pending." in status


def test_two_concurrent_starts_apply_each_migration_exactly_once(project: Project) -> None:
    for number in (1, 2, 3):
        project.write(f"000{number}_step_{number}", SLOW_COUNTER)
    with project.db() as client:
        client[project.name]["counter"].insert_one({"_id": "runs", "n": 0})
    processes = [
        subprocess.Popen(
            project.command("db", "migrate", "--lock-wait", "60"),
            cwd=project.root,
            env=project.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    applied = [
        line for out, _ in outputs for line in out.splitlines() if line.startswith("Applied")
    ]
    assert sorted(line.split()[1] for line in applied) == ["0001_step_1", "0002_step_2",
                                                          "0003_step_3"]  # fmt: skip
    assert any(out.strip() == "No pending migrations." for out, _ in outputs)
    with project.db() as client:
        assert client[project.name]["counter"].find_one({"_id": "runs"}) == {"_id": "runs", "n": 3}
        assert client[project.name]["migrations"].count_documents({}) == 3
        assert client[project.name]["migration_lock"].count_documents({}) == 0


def test_rollback_and_migrate_to(project: Project) -> None:
    body = "async def up(db):\n    pass\n\n\nasync def down(db):\n    pass\n"
    for name in ("0001_a", "0002_b", "0003_c"):
        project.write(name, body)
    assert project.run("db", "migrate", "--to", "0002").stdout.endswith("2 migrations applied.\n")
    back = project.run("db", "rollback")
    assert back.returncode == 0 and back.stdout.startswith("Reverted 0002_b")
    unknown = project.run("db", "migrate", "--to", "0042")
    assert unknown.returncode == 1 and "No migration named '0042'" in unknown.stderr


def test_indexes_creates_what_models_declare(project: Project) -> None:
    (project.root / "src" / "app" / "models.py").write_text(textwrap.dedent("""
        from typing import ClassVar

        import pymongo
        from beanie import Document


        class Page(Document):
            slug: str

            class Settings:
                name = "pages"
                indexes: ClassVar = [pymongo.IndexModel("slug", name="slug_unique", unique=True)]


        MODELS = [Page]
    """))  # fmt: skip
    with project.db() as client:
        client[project.name]["pages"].create_index("old_field", name="stale")
    first = project.run("db", "indexes")
    assert first.returncode == 0, first.stderr
    lines = dict(line.split(": ", 1) for line in first.stdout.splitlines())
    assert lines["pages"] == "+slug_unique  (3 indexes)", "stale stays without --drop"
    assert "+email_1" in lines["users"] and "+token_hash_1" in lines["magic_links"]
    dropped = project.run("db", "indexes", "--drop")
    assert "pages: -stale" in dropped.stdout
    again = project.run("db", "indexes")
    assert "pages: up to date  (2 indexes)" in again.stdout


def test_doctor_reports_pending_migrations(project: Project) -> None:
    project.write("0001_a", "async def up(db):\n    pass\n")
    pending = project.run("doctor")
    assert "✗ migrations: 1 pending: 0001_a" in pending.stdout
    assert "vibetuner db migrate" in pending.stdout
    project.run("db", "migrate")
    assert "✓ migrations: all applied" in project.run("doctor").stdout


def test_commands_outside_a_project_or_without_a_database_say_how_to_fix(
    tmp_path: Path, project: Project
) -> None:
    outside = subprocess.run(
        [VIBETUNER, "db", "status"], cwd=tmp_path / "src", env=project.env(),
        capture_output=True, text=True,
    )  # fmt: skip
    assert outside.returncode == 2 and "Cannot find the `app` package" in outside.stderr
    dead = project.run("db", "status", DATABASE_URL=f"mongodb://127.0.0.1:{free_port()}/x")
    assert dead.returncode == 2 and "Error: Cannot reach MongoDB" in dead.stderr
    assert "Fix:" in dead.stderr and "Traceback" not in dead.stderr


def test_run_prod_applies_migrations_at_start_when_asked(project: Project) -> None:
    import os
    import signal
    import time

    import httpx

    project.write("0001_seed", 'async def up(db):\n    await db["pages"].insert_one({"t": 1})\n')
    (project.root / "src" / "app" / "frontend.py").write_text(
        "from vibetuner.frontend import create_app\n\napp = create_app()\n"
    )
    port = free_port()
    env = project.env(
        ENVIRONMENT="prod", SECRET_KEY="q8Vn2Lr5Xw9Zt1Kb7Hd3Jm6Pc4Sf0Gy-Ua_Eo",
        BASE_URL=f"http://127.0.0.1:{port}", FORCE_HTTPS="false", SMTP_HOST="127.0.0.1",
        MIGRATE_ON_START="true", PROJECT_ROOT=str(project.root),
    )  # fmt: skip
    command = project.command("run", "prod", "--workers", "1", "--host", "127.0.0.1",
                              "--port", str(port))  # fmt: skip
    log = project.root / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=project.root, env=env, stdout=output,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ping", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    assert "Applied 0001_seed" in log.read_text()
    with project.db() as client:
        assert client[project.name]["migrations"].count_documents({}) == 1
        assert client[project.name]["pages"].count_documents({}) == 1
