"""`vibetuner run prod` checks in a child while the launcher loads what its workers import:
the workers are forked from a launcher that never loaded the CLI, and a stop that comes while
the child checks ends both processes as it ended the one command before."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli.test_run_drain import _launch, _status
from tests.cli.test_run_stop import _group
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.server._process import stop_group

APP = """
import asyncio
import sys

from fastapi import APIRouter
from vibetuner.frontend import create_app

router = APIRouter()


@router.get("/modules")
async def modules() -> dict[str, bool]:
    return {name: name in sys.modules for name in ("typer", "vibetuner.cli")}


@router.get("/loop")
async def loop() -> str:
    return type(asyncio.get_running_loop()).__module__


app = create_app(routers=[router])
"""
HOLDING_MIGRATION = """
import asyncio
import os
from pathlib import Path


async def up(db) -> None:
    Path(os.environ["MIGRATION_STARTED"]).touch()
    try:
        while not Path(os.environ["MIGRATION_RELEASE"]).exists():
            await asyncio.sleep(0.02)
    except asyncio.CancelledError:  # Ctrl-C
        await asyncio.sleep(2)  # a clean-up that takes its time
        Path(os.environ["MIGRATION_CLEANED"]).touch()
        raise
"""


def _until(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_the_workers_run_on_uvloop_and_never_load_the_cli(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
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
        # uvloop (granian[uvloop]): asyncio's own loop serves about a fifth fewer requests.
        assert httpx.get(f"{base}/loop").json().startswith("uvloop")
    finally:
        stop_group(process)


@dataclass
class Checking:
    """A `run prod` whose child is busy applying a migration until `release` exists."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    release: Path
    cleaned: Path


def _checking(
    tmp_path: Path, mongo: EmbeddedMongo, name: str, preexec: Callable[[], None] | None = None
) -> Checking:
    migrations = tmp_path / "src" / "app" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "0001_hold.py").write_text(HOLDING_MIGRATION)
    started, release, cleaned = (tmp_path / n for n in ("started", "release", "cleaned"))
    process, port, log = _launch(
        # A database of its own: a stopped migration leaves its lock behind.
        tmp_path, mongo, APP, f"checking_{name[5:30]}", preexec=preexec,
        MIGRATE_ON_START="true", MIGRATION_STARTED=str(started), MIGRATION_RELEASE=str(release),
        MIGRATION_CLEANED=str(cleaned),
    )  # fmt: skip
    _until(lambda: started.exists() or process.poll() is not None, "no migration ran")
    assert process.poll() is None, log.read_text()
    assert len(_group(process.pid)) == 2, "the launcher and the child that checks"
    return Checking(process, port, log, release, cleaned)


@pytest.fixture
def checking(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo, request: pytest.FixtureRequest
) -> Iterator[Checking]:
    found = _checking(tmp_path, vibetuner_mongo, request.node.name)
    try:
        yield found
    finally:
        stop_group(found.process)


def _ended(checking: Checking) -> int:
    checking.process.wait(60)
    _until(lambda: not _group(checking.process.pid), "a process of the group was left", 10)
    output = checking.log.read_text()
    assert "Traceback" not in output and "ERROR" not in output, output
    return checking.process.returncode


def test_sigterm_while_the_child_checks_ends_both(checking: Checking) -> None:
    checking.process.send_signal(signal.SIGTERM)  # a supervisor's stop: to the launcher alone
    assert _ended(checking) == -signal.SIGTERM


def test_ctrl_c_while_the_child_checks_ends_both_after_its_clean_up(checking: Checking) -> None:
    os.killpg(checking.process.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches every process
    assert _ended(checking) == 130
    assert checking.cleaned.exists(), "the child's clean-up was cut short"


def test_sigint_to_the_launcher_alone_is_passed_on(checking: Checking) -> None:
    checking.process.send_signal(signal.SIGINT)
    assert _ended(checking) == 130


def _as_nohup_and_a_shell_start_it() -> None:
    """`nohup cmd &` ignores SIGHUP (and a non-interactive shell's `cmd &`, SIGINT); some
    parents ignore SIGCHLD. Ignored signals stay ignored across exec."""
    for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_IGN)


def test_what_the_parent_ignores_stays_ignored(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    """A hang-up while the migration runs (a logout after `nohup ... &`) neither stops the
    start nor cuts the migration short, and the launcher still learns how its child ended."""
    found = _checking(tmp_path, vibetuner_mongo, "test_ignored", _as_nohup_and_a_shell_start_it)
    try:
        os.killpg(found.process.pid, signal.SIGHUP)
        os.killpg(found.process.pid, signal.SIGINT)
        found.release.touch()
        base = f"http://127.0.0.1:{found.port}"
        ready = lambda: _status(f"{base}/health/ready") == 200  # noqa: E731
        _until(lambda: ready() or found.process.poll() is not None, "never became ready")
        assert found.process.poll() is None, found.log.read_text()
        assert httpx.get(f"{base}/modules").json() == {"typer": False, "vibetuner.cli": False}
        # uvloop (granian[uvloop]): asyncio's own loop serves about a fifth fewer requests.
        assert httpx.get(f"{base}/loop").json().startswith("uvloop")
    finally:
        stop_group(found.process)
