"""`vibetuner run prod` checks in a child while the launcher loads what its workers import:
the workers are forked from a launcher that never loaded the CLI, and a stop that comes while
the child checks ends both processes as it ended the one command before."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli.test_run_drain import _launch, _status
from tests.cli.test_run_stop import _group
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.server._process import stop_group

APP = """
import sys

from fastapi import APIRouter
from vibetuner.frontend import create_app

router = APIRouter()


@router.get("/modules")
async def modules() -> dict[str, bool]:
    return {name: name in sys.modules for name in ("typer", "vibetuner.cli")}


app = create_app(routers=[router])
"""
HOLDING_MIGRATION = """
import asyncio
import os
from pathlib import Path


async def up(db) -> None:
    Path(os.environ["MIGRATION_STARTED"]).touch()
    while True:
        await asyncio.sleep(0.02)
"""


def _until(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_the_workers_never_load_the_cli(tmp_path: Path, vibetuner_mongo: EmbeddedMongo) -> None:
    process, port, log = _launch(tmp_path, vibetuner_mongo, APP, "front")
    try:
        base = f"http://127.0.0.1:{port}"
        _until(lambda: _status(f"{base}/health/ready") == 200 or process.poll() is not None,
               "never became ready")  # fmt: skip
        assert process.poll() is None, log.read_text()
        # A worker has what its launcher had loaded when it forked: Typer and the CLI's
        # modules would be there (about 3 MB of each worker's memory) had the launcher run
        # the command itself.
        assert httpx.get(f"{base}/modules").json() == {"typer": False, "vibetuner.cli": False}
    finally:
        stop_group(process)


@dataclass
class Checking:
    """A `run prod` whose child is busy applying a migration that never ends."""

    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture
def checking(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo, request: pytest.FixtureRequest
) -> Iterator[Checking]:
    migrations = tmp_path / "src" / "app" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "0001_hold.py").write_text(HOLDING_MIGRATION)
    started = tmp_path / "migration-started"
    process, _, log = _launch(
        # A database of its own: a stopped migration leaves its lock behind.
        tmp_path, vibetuner_mongo, APP, f"checking_{request.node.name[5:30]}",
        MIGRATE_ON_START="true",
        MIGRATION_STARTED=str(started),
    )  # fmt: skip
    try:
        _until(lambda: started.exists() or process.poll() is not None, "no migration ran")
        assert process.poll() is None, log.read_text()
        assert len(_group(process.pid)) == 2, "the launcher and the child that checks"
        yield Checking(process, log)
    finally:
        stop_group(process)


def _ended(checking: Checking) -> int:
    checking.process.wait(30)
    _until(lambda: not _group(checking.process.pid), "a process of the group was left", 10)
    output = checking.log.read_text()
    assert "Traceback" not in output and "ERROR" not in output, output
    return checking.process.returncode


def test_sigterm_while_the_child_checks_ends_both(checking: Checking) -> None:
    checking.process.send_signal(signal.SIGTERM)  # a supervisor's stop: to the launcher alone
    assert _ended(checking) == -signal.SIGTERM


def test_ctrl_c_while_the_child_checks_ends_both(checking: Checking) -> None:
    os.killpg(checking.process.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches every process
    assert _ended(checking) == 130


def test_sigint_to_the_launcher_alone_is_passed_on(checking: Checking) -> None:
    checking.process.send_signal(signal.SIGINT)
    assert _ended(checking) == 130
