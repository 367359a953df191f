"""SCRAM credentials in DATABASE_URL, against the embedded server with `--auth` on.

The right user connects and queries; a wrong password or a missing user is one line that says
what to fix, from `init_db`, from `vibetuner run prod` and `doctor`, and never shows the
password. Logs never carry a connection URL's password either.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from beanie import Document
from pymongo import MongoClient

from tests.cli.test_doctor import PROD, doctor
from tests.cli.test_main import run
from vibetuner.config import reset_settings
from vibetuner.data import _mongo
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.exceptions import DatabaseUnavailable
from vibetuner.monitoring._logging import JSONFormatter, TextFormatter

DATABASE = "authapp"


class Ledger(Document):
    entry: str

    class Settings:
        name = "ledger"


@dataclass
class Secured:
    server: EmbeddedMongo
    password: str

    def url(self, user: str | None = "app", password: str | None = None) -> str:
        credentials = f"{user}:{quote(password or self.password, safe='')}@" if user else ""
        where = f"{self.server.host}:{self.server.port}"
        return f"mongodb://{credentials}{where}/{DATABASE}?authSource=admin"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """A user made on an open server, which then restarts with authentication required (as
    SecantusDB asks: `createUser` first, then `--auth`)."""
    storage = tmp_path_factory.mktemp("auth") / "db"
    password = f"p@ss:/{secrets.token_urlsafe(12)}"  # characters a URL must percent-encode
    setup = EmbeddedMongo(storage)
    setup.start()
    client: MongoClient[dict[str, Any]] = MongoClient(setup.url)
    try:
        roles = [{"role": "readWrite", "db": DATABASE}]
        client.admin.command("createUser", "app", pwd=password, roles=roles)
    finally:
        client.close()
        setup.stop()
    server = EmbeddedMongo(storage, server_args=["--auth"])
    server.start()
    try:
        yield Secured(server, password)
    finally:
        server.stop()


@pytest.fixture
def env(settings_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield settings_env
    reset_settings()


@pytest.fixture
async def closing() -> AsyncIterator[None]:
    yield
    await _mongo.close_db()


async def test_the_right_user_connects_and_queries(
    secured: Secured, env: pytest.MonkeyPatch, closing: None
) -> None:
    _mongo.check_reachable(secured.url())
    await _mongo.init_db([Ledger], url=secured.url())
    await Ledger(entry="paid").insert()
    assert [doc.entry for doc in await Ledger.find_all().to_list()] == ["paid"]


def _refused(url: str) -> DatabaseUnavailable:
    with pytest.raises(DatabaseUnavailable) as caught:
        _mongo.check_reachable(url, timeout_ms=3000)
    return caught.value


def test_a_wrong_password_is_one_line_without_it(secured: Secured, env: pytest.MonkeyPatch) -> None:
    wrong = f"wrong:{secrets.token_urlsafe(8)}"
    error = _refused(secured.url(password=wrong))
    assert error.message == "MongoDB refused the user 'app' in DATABASE_URL: authentication failed."
    assert error.fix is not None and "authSource" in error.fix
    for shown in (error.message, error.fix, str(error)):
        assert wrong not in shown and quote(wrong, safe="") not in shown


def test_a_missing_user_is_named_though_ping_answers(
    secured: Secured, env: pytest.MonkeyPatch
) -> None:
    """`ping` needs no user, so the check reads the app's collections: a URL without
    credentials fails before the server starts, not at the first request."""
    error = _refused(secured.url(user=None))
    assert error.message == "MongoDB requires a user, and DATABASE_URL has none."
    assert error.fix == "Set DATABASE_URL=mongodb://USER:PASSWORD@host:27017/app?authSource=admin"


async def test_init_db_says_the_same(secured: Secured, env: pytest.MonkeyPatch) -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        await _mongo.init_db([Ledger], url=secured.url(password="nope-nope"), timeout_ms=3000)
    assert caught.value.message.startswith("MongoDB refused the user 'app'")


def test_run_prod_prints_one_line_and_no_password(secured: Secured, tmp_path: Path) -> None:
    (tmp_path / "src" / "app" / "frontend").mkdir(parents=True)
    (tmp_path / "src" / "app" / "__init__.py").write_text("")
    (tmp_path / "src" / "app" / "frontend" / "__init__.py").write_text("app = None\n")
    wrong = f"leak:{secrets.token_urlsafe(8)}"
    env = {**PROD, "DATABASE_URL": secured.url(password=wrong)}
    result = run("run", "prod", cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert "Error: MongoDB refused the user 'app' in DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
    shown = result.stdout + result.stderr
    assert wrong not in shown and quote(wrong, safe="") not in shown


def test_doctor_deploy_checks_the_credentials(secured: Secured, tmp_path: Path) -> None:
    result = doctor("--deploy", cwd=tmp_path, env={**PROD, "DATABASE_URL": secured.url()})
    assert f"✓ database: mongodb://app:***@{secured.server.host}" in result.stdout, result.stdout
    assert "✓ database credentials: user app" in result.stdout
    assert secured.password not in result.stdout
    assert quote(secured.password, safe="") not in result.stdout


@pytest.mark.parametrize("formatter", [JSONFormatter(), TextFormatter()])
def test_logs_never_carry_a_connection_password(formatter: logging.Formatter) -> None:
    password = secrets.token_urlsafe(12)
    record = logging.makeLogRecord({
        "name": "app", "levelno": logging.ERROR, "levelname": "ERROR",
        "msg": "cannot use %s or %s",
        "args": (f"mongodb://app:{password}@db:27017/app", f"redis://:{password}@cache:6379/0"),
    })  # fmt: skip
    line = formatter.format(record)
    assert password not in line
    assert "mongodb://app:***@db:27017/app" in line and "redis://:***@cache:6379/0" in line
    if isinstance(formatter, JSONFormatter):
        assert json.loads(line)["level"] == "ERROR"


def test_a_url_without_credentials_is_a_deploy_warning(tmp_path: Path) -> None:
    """Anyone who reaches an open MongoDB reads and writes it all: prod should use a user."""
    url = f"mongodb://db.internal:27017/{uuid.uuid4().hex[:8]}"
    result = doctor("--deploy", cwd=tmp_path, env={**PROD, "DATABASE_URL": url})
    assert "! database credentials: DATABASE_URL has no user" in result.stdout, result.stdout
    assert "Fix: Create a MongoDB user" in result.stdout
    local = doctor("--deploy", cwd=tmp_path,
                   env={**PROD, "DATABASE_URL": "mongodb://127.0.0.1:1/app"})  # fmt: skip
    assert "✓ database credentials: none (MongoDB on this host's loopback only)" in local.stdout
