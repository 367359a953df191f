"""Pytest fixtures for apps and for the framework: a real database server, an HTTP client.

Registered as a pytest plugin. Define a `vibetuner_app` fixture that returns your app, then
use `client` in tests:

    @pytest.fixture(scope="session")
    def vibetuner_app(vibetuner_database_url):
        from app.frontend import app
        return app

For browser tests, `vibetuner_live_server` serves the project with `vibetuner run prod` (with
an SMTP sink and a local OpenID provider), `vibetuner_browser` is a Playwright Chromium, and
`vibetuner_screenshot` saves full-page screenshots to tests/artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from vibetuner._process import stop_group as _stop
from vibetuner.testing_s3 import vibetuner_s3  # noqa: F401 (a fixture of this plugin)

if TYPE_CHECKING:
    import httpx
    from playwright.async_api import Browser, Page

    from vibetuner.embedded import EmbeddedMongo
    from vibetuner.testing_idp import LocalOIDCProvider
    from vibetuner.testing_mail import SMTPSink


@pytest.fixture(scope="session")
def vibetuner_mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedMongo]:
    """A real MongoDB-wire server (SecantusDB) on a free port, for the whole session."""
    from vibetuner.embedded import EmbeddedMongo

    storage = tmp_path_factory.mktemp("mongo") / "data"
    server = EmbeddedMongo(storage, log_path=storage.parent / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def vibetuner_database_url(vibetuner_mongo: EmbeddedMongo) -> Iterator[str]:
    """Point the settings at a fresh database on the test server."""
    from vibetuner.config import reset_settings

    url = f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}/test_{uuid.uuid4().hex[:8]}"
    saved = {key: os.environ.get(key) for key in ("DATABASE_URL", "ENVIRONMENT")}
    os.environ.update(DATABASE_URL=url, ENVIRONMENT="dev")
    reset_settings()
    try:
        yield url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()


@pytest.fixture(scope="session")
async def _vibetuner_started_app(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    app = request.getfixturevalue("vibetuner_app")
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(_vibetuner_started_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to the app in-process, after its startup has run."""
    import httpx

    transport = httpx.ASGITransport(app=_vibetuner_started_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def sign_in_as(client: httpx.AsyncClient, email: str, *, name: str = "") -> None:
    """Sign `client` in as `email` through the real magic-link route (no email is sent)."""
    from vibetuner.config import get_settings
    from vibetuner.services.auth import get_or_create_user, issue_magic_link

    await get_or_create_user(email, name=name)
    token = await issue_magic_link(email, "/", get_settings().magic_link_max_age)
    response = await client.get(f"/auth/magic/{token}")
    assert response.status_code == 303, f"sign-in failed: {response.status_code}"


def csrf_token_of(html: str) -> str:
    """The CSRF token a rendered page carries (form field or htmx header script)."""
    import re

    match = re.search(r'name="csrf_token" value="([^"]+)"|"X-CSRF-Token"\] = "([^"]+)"', html)
    if match is None:
        raise AssertionError("no CSRF token on this page")
    return match.group(1) or match.group(2)


# Browser tests: the project served for real, and a real Chromium.

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Inherited variables that would point the server at another venv, database or mode.
_CONFLICTING_ENV = ("DATABASE_URL", "DATABASE_NAME", "DEBUG", "ENVIRONMENT", "PROJECT_ROOT",
                    "REDIS_URL", "SECRET_KEY", "VIBETUNER_ENV_FILE")  # fmt: skip


@dataclass
class LiveServer:
    """The project under `vibetuner run prod`, and the mail sink and provider it talks to."""

    url: str
    smtp: SMTPSink
    idp: LocalOIDCProvider
    oidc_name: str
    database_url: str
    log_path: Path


def _server_env(**settings: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _CONFLICTING_ENV and not key.startswith(("PYTHON", "VIRTUAL_ENV"))
    }
    # Production reads the environment only: .env (dev settings) stays out, as in the image.
    return {**env, "VIBETUNER_ENV_FILE": os.devnull, **settings}


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            output = log.read_text(errors="replace")[-4000:]
            pytest.fail(f"`vibetuner run prod` exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/health/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"`vibetuner run prod` never answered {url}/health/ping")
        time.sleep(0.1)


def _worker_settings(env: Mapping[str, str]) -> Any:
    """The settings the worker started with `env` sees: the environment only, no .env."""
    from vibetuner.config import Settings

    queue = env.get("JOB_QUEUE") or Settings.model_fields["job_queue"].default
    return Settings(_env_file=None, redis_url=env["REDIS_URL"], job_queue=queue)  # type: ignore[call-arg]


def _wait_for_worker(process: subprocess.Popen[bytes], env: Mapping[str, str], log: Path) -> None:
    """Until the worker's heartbeat is in Redis, so the first queued job is not kept waiting."""
    from vibetuner.tasks._worker import worker_alive

    settings = _worker_settings(env)
    deadline = time.monotonic() + 60
    while not worker_alive(settings, any_host=True):
        if process.poll() is not None:
            pytest.fail(f"`vibetuner run worker` exited with {process.returncode}:\n"
                        + log.read_text(errors="replace")[-3000:])  # fmt: skip
        if time.monotonic() > deadline:
            pytest.fail("`vibetuner run worker` never sent a heartbeat")
        time.sleep(0.2)


@contextmanager
def local_redis(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server on a free port (no persistence); yields its URL."""
    import shutil
    import socket

    from vibetuner.embedded import free_port

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def vibetuner_live_server(
    request: pytest.FixtureRequest,
    vibetuner_mongo: EmbeddedMongo,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    """This project under `vibetuner run prod` on a free port, with a fresh database.

    Mail goes to an SMTP sink (`.smtp`); one OpenID provider (`.idp`, named `.oidc_name`)
    signs users in. Run from the project folder (the one with pyproject.toml and src/app).
    """
    from vibetuner.embedded import free_port
    from vibetuner.testing_idp import oidc_provider
    from vibetuner.testing_mail import SMTPSink

    project = request.config.rootpath
    if not (project / "src" / "app").is_dir():
        pytest.fail(f"{project} is not a Vibetuner project: src/app is missing")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    name = "local"
    mongo = f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}"
    database_url = f"{mongo}/live_{uuid.uuid4().hex[:8]}"
    log = tmp_path_factory.mktemp("live-server") / "server.log"
    with ExitStack() as stack:
        smtp = stack.enter_context(SMTPSink())
        idp = stack.enter_context(oidc_provider())
        client = idp.register_client([f"{url}/auth/oauth/{name}/callback"])
        output = stack.enter_context(log.open("wb"))
        # An app with background jobs refuses to start in prod without Redis, as it should.
        jobs = (project / "src" / "app" / "tasks").is_dir()
        redis = {"REDIS_URL": stack.enter_context(local_redis(log.parent))} if jobs else {}
        provider = {"name": name, "title": "Local ID", "issuer": idp.issuer,
                    "client_id": client.client_id,
                    "client_secret": client.client_secret}  # fmt: skip
        env = _server_env(
            ENVIRONMENT="prod",
            FORCE_HTTPS="false",  # plain HTTP on loopback; behind a proxy prod uses HTTPS
            SECRET_KEY=secrets.token_urlsafe(48),
            DATABASE_URL=database_url,
            BASE_URL=url,
            SMTP_HOST=smtp.host,
            SMTP_PORT=str(smtp.port),
            SMTP_SECURITY="none",
            MAIL_FROM="Live Tests <no-reply@live.test>",
            OIDC_PROVIDERS=json.dumps([provider]),
            **redis,
        )
        vibetuner = Path(sys.executable).parent / "vibetuner"
        command = [str(vibetuner), "run", "prod", "--workers", "1",
                   "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=project, env=env, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        stack.callback(_stop, process)
        if jobs:  # queued work (sign-in emails too) runs on a worker, as in production
            worker = subprocess.Popen(
                [str(vibetuner), "run", "worker"], cwd=project, env=env, start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
            stack.callback(_stop, worker)
            _wait_for_worker(worker, env, log)
        _wait_until_serving(process, url, log)
        yield LiveServer(url, smtp, idp, name, database_url, log)


def _chromium() -> str:
    """The Chromium to drive; skip (or fail, with VIBETUNER_REQUIRE_BROWSER=1) without one."""
    executable = os.environ.get("VIBETUNER_CHROMIUM", CHROMIUM)
    if not os.access(executable, os.X_OK):
        reason = f"no Chromium at {executable} (install it, or set VIBETUNER_CHROMIUM)"
        if os.environ.get("VIBETUNER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}; VIBETUNER_REQUIRE_BROWSER=1 requires browser tests")
        pytest.skip(reason)
    return executable


@pytest.fixture(scope="session")
async def vibetuner_browser() -> AsyncIterator[Browser]:
    """A headless Chromium (Playwright's async API) with a fresh profile, for the session.

    Browser tests are `async def` tests on the session's event loop.
    """
    executable = _chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            await browser.close()


Screenshot = Callable[["Page", str], Awaitable[Path]]


@pytest.fixture
def vibetuner_screenshot(request: pytest.FixtureRequest) -> Screenshot:
    """`await vibetuner_screenshot(page, "step")` saves tests/artifacts/<test>-<step>.png."""
    default = request.config.rootpath / "tests" / "artifacts"
    folder = Path(os.environ.get("VIBETUNER_ARTIFACTS_DIR") or default)
    folder.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")

    async def save(page: Page, step: str) -> Path:
        path = folder / f"{test}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', step)}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    return save


def watch_page(page: Page) -> list[str]:
    """Record a page's uncaught errors and Content Security Policy violations.

    The returned list fills up as the page runs; assert it is empty at the end of a test.
    """
    problems: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(f"CSP on {page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught on {page.url}: {error}"))
    return problems
