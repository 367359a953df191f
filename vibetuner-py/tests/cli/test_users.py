"""`vibetuner users ...` as real processes; privilege changes end the user's live sessions."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request

from tests.conftest import RedisServer
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.server._net import free_port
from vibetuner.testing import sign_in_as

VIBETUNER = str(Path(sys.executable).parent / "vibetuner")


class Cli:
    def __init__(self, root: Path, database_url: str | None, redis_url: str | None = None) -> None:
        self.root = root
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "COLUMNS": "120",
                    "VIBETUNER_ENV_FILE": str(root / "none.env")}  # fmt: skip
        if database_url:
            self.env["DATABASE_URL"] = database_url
        if redis_url:
            self.env["REDIS_URL"] = redis_url

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [VIBETUNER, "users", *args], cwd=self.root, env=self.env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip


def database_url(server: EmbeddedMongo) -> str:
    return f"mongodb://{server.host}:{server.port}/users_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def users(tmp_path: Path, vibetuner_mongo: EmbeddedMongo) -> Cli:
    return Cli(tmp_path, database_url(vibetuner_mongo))


def one_line_error(result: subprocess.CompletedProcess[str], message: str, code: int = 1) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert len(lines) == 2 and lines[1].startswith("Fix: "), result.stderr


def test_create_list_deactivate_and_activate(users: Cli) -> None:
    created = users("create", "Ada@Example.com", "--role", "admin", "--name", "Ada Lovelace")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "Created ada@example.com  active  roles=admin  Ada Lovelace"
    assert users("create", "bob@example.com").returncode == 0
    listing = users("list").stdout.splitlines()
    assert listing == [
        "ada@example.com  active  roles=admin  Ada Lovelace",
        "bob@example.com  active  roles=-",
        "2 users.",
    ]
    assert users("list", "--role", "admin").stdout.splitlines()[-1] == "1 user."
    off = users("deactivate", "bob@example.com")
    assert off.stdout.strip() == "Deactivated bob@example.com; ended 0 sessions."
    assert users("list", "--active").stdout.splitlines() == [listing[0], "1 user."]
    assert users("activate", "BOB@example.com").stdout.strip() == "Activated bob@example.com."
    roles = users("roles", "ada@example.com", "--add", "editor", "--remove", "admin")
    assert roles.stdout.strip() == "ada@example.com: roles=editor; ended 0 sessions"
    assert users("roles", "ada@example.com").stdout.strip() == "ada@example.com: roles=editor"


def test_bad_arguments_get_one_line_fixes(users: Cli) -> None:
    assert users("create", "ada@example.com").returncode == 0
    one_line_error(users("create", "not-an-email"), "is not a valid email address", code=2)
    one_line_error(users("create", "ADA@example.com"), "already exists")
    one_line_error(users("deactivate", "nobody@example.com"), "No user with the email")
    one_line_error(
        users("create", "x@example.com", "--role", "Admin!"), "not a valid role name", code=2
    )
    one_line_error(
        users("roles", "ada@example.com", "--add", "a", "--remove", "a"), "both added", code=2
    )
    one_line_error(users("list", "--role", "9lives"), "not a valid role name", code=2)


def test_no_reachable_database_is_one_line(tmp_path: Path) -> None:
    cli = Cli(tmp_path, f"mongodb://127.0.0.1:{free_port()}/app")
    result = cli("list")
    assert result.returncode == 2 and "Error: Cannot reach MongoDB" in result.stderr
    assert "Fix: Check that MongoDB is running" in result.stderr
    assert "Traceback" not in result.stderr
    prod = Cli(tmp_path, None)
    prod.env["ENVIRONMENT"] = "prod"
    one_line_error(prod("list"), "DATABASE_URL is not set", code=2)  # a setting: exit code 2


def test_dev_without_database_url_uses_the_embedded_database(tmp_path: Path) -> None:
    (tmp_path / "src" / "app").mkdir(parents=True)
    (tmp_path / "src" / "app" / "__init__.py").write_text("")
    cli = Cli(tmp_path, None)
    cli.env["PROJECT_ROOT"] = str(tmp_path)
    created = cli("create", "ada@example.com")
    assert created.returncode == 0, created.stderr
    assert "Starting the embedded database" in created.stderr
    assert (tmp_path / ".vibetuner" / "db").is_dir()
    # While `run dev` serves one, commands join it through .vibetuner/db.url.
    with EmbeddedMongo(tmp_path / ".vibetuner" / "db", database="app") as running:
        (tmp_path / ".vibetuner" / "db.url").write_text(running.url + "\n")
        listing = cli("list")
    assert listing.returncode == 0 and "Starting" not in listing.stderr
    assert listing.stdout.splitlines()[0].startswith("ada@example.com  active")


# --- privilege changes end live sessions (Redis store) -----------------------------------


@pytest.fixture
async def app(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo, redis_server: RedisServer
) -> AsyncIterator[FastAPI]:
    from vibetuner import create_app
    from vibetuner.frontend._middleware import setup_middleware
    from vibetuner.services.sessions import get_session_store

    settings_env.setenv("DATABASE_URL", database_url(vibetuner_mongo))
    settings_env.setenv("REDIS_URL", redis_server.url)
    get_session_store.cache_clear()
    application = create_app()
    setup_middleware(application)

    @application.get("/whoami")
    async def whoami(request: Request) -> dict[str, object]:
        user = request.scope["user"]
        return {"email": user.email, "roles": list(user.roles)}

    async with application.router.lifespan_context(application):
        yield application
    get_session_store.cache_clear()


def cli_for_app(root: Path) -> Cli:
    import os

    return Cli(root, os.environ["DATABASE_URL"], os.environ["REDIS_URL"])


def browser(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_deactivate_signs_the_user_out_everywhere(app: FastAPI, tmp_path: Path) -> None:
    async with browser(app) as laptop, browser(app) as phone:
        await sign_in_as(laptop, "eve@example.com")
        await sign_in_as(phone, "eve@example.com")
        assert (await laptop.get("/whoami")).json()["email"] == "eve@example.com"
        result = cli_for_app(tmp_path)("deactivate", "eve@example.com")
        assert result.stdout.strip() == "Deactivated eve@example.com; ended 2 sessions."
        for client in (laptop, phone):
            assert (await client.get("/whoami")).json() == {"email": None, "roles": []}
            account = await client.get("/account")
            assert account.status_code == 303 and "/auth/login" in account.headers["location"]
        with pytest.raises(AssertionError, match=r"sign-in failed: (403|400)"):
            await sign_in_as(laptop, "eve@example.com")


async def test_a_role_change_ends_the_session_and_the_next_one_has_the_roles(
    app: FastAPI, tmp_path: Path
) -> None:
    async with browser(app) as client:
        await sign_in_as(client, "max@example.com")
        assert (await client.get("/whoami")).json()["roles"] == []
        result = cli_for_app(tmp_path)("roles", "max@example.com", "--add", "admin")
        assert result.stdout.strip() == "max@example.com: roles=admin; ended 1 session"
        assert (await client.get("/whoami")).json()["email"] is None
        await sign_in_as(client, "max@example.com")
        assert (await client.get("/whoami")).json() == {
            "email": "max@example.com",
            "roles": ["admin"],
        }


@pytest.mark.parametrize("command", [("roles", "--remove", "admin"), ("deactivate",)])
def test_nothing_is_taken_away_while_the_sessions_cannot_be_ended(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo, command: tuple[str, ...]
) -> None:
    """With the session store down, a removal saved first would leave the sessions holding
    what it took away (and a second run, finding nothing to change, ended none)."""
    url = database_url(vibetuner_mongo)
    assert Cli(tmp_path, url)("create", "ada@example.com", "--role", "admin").returncode == 0
    down = Cli(tmp_path, url, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    refused = down(command[0], "ada@example.com", *command[1:])
    one_line_error(refused, "The session store", code=2)
    listed = Cli(tmp_path, url)("list").stdout
    assert "ada@example.com  active  roles=admin" in listed


def test_a_name_cannot_rewrite_the_terminal(users: Cli) -> None:
    """Anyone signed in picks their name: `users list` shows its control characters as
    escapes, so a name cannot overwrite an admin's row with a fake one."""
    name = "M\r\x1b[2K\x1b[1Aalice@example.com  inactive  roles=-  \u202eAlice 👨\u200d👩\u200d👧"
    assert users("create", "mallory@example.com", "--name", name).returncode == 0
    listed = users("list").stdout
    assert "\x1b" not in listed and "\r" not in listed and "\u202e" not in listed
    assert r"M\r\x1b[2K\x1b[1Aalice@example.com" in listed and r"\u202eAlice" in listed
    assert "👨\u200d👩\u200d👧" in listed  # an emoji's joiners are not controls


def test_a_stray_folder_gets_no_database_of_its_own(tmp_path: Path) -> None:
    """Without DATABASE_URL, outside an app's folder: refused, nothing created there."""
    stray = Cli(tmp_path, None)
    refused = stray("create", "ada@example.com", "--role", "admin")
    one_line_error(refused, "is not an app's folder", code=2)
    assert not (tmp_path / ".vibetuner").exists()
