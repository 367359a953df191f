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
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from vibetuner.config import reset_settings
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.server._net import free_port
from vibetuner.server._process import stop_group

if TYPE_CHECKING:
    import httpx
    from playwright.async_api import Browser, Page

    from vibetuner.data._embedded import EmbeddedMongo
    from vibetuner.testing._live import LiveServer, Screenshot
    from vibetuner.testing._s3 import S3Server


@pytest.fixture(scope="session")
def vibetuner_mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedMongo]:
    """A real MongoDB-wire server (SecantusDB) on a free port, for the whole session."""
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
    import httpx  # httpx: off every pytest run

    transport = httpx.ASGITransport(app=_vibetuner_started_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


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
    # Test support is loaded by the fixtures that use it, not when pytest loads the plugin.
    from vibetuner.testing._live import (  # test support: off every pytest run
        LiveServer,
        server_env,
        wait_for_worker,
        wait_until_serving,
    )
    from vibetuner.testing._mail import SMTPSink
    from vibetuner.testing._redis import local_redis
    from vibetuner.testing.idp import oidc_provider

    project = request.config.rootpath
    if not (project / "src" / "app").is_dir():
        pytest.fail(f"{project} is not a Vibetuner project: src/app is missing")
    port = free_port()
    # At localhost, not 127.0.0.1: WebAuthn refuses an IP address as the site's name, and
    # browser tests register passkeys. The server still binds 127.0.0.1.
    url = f"http://localhost:{port}"
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
        env = server_env(
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
        stack.callback(stop_group, process)
        if jobs:  # queued work (sign-in emails too) runs on a worker, as in production
            worker = subprocess.Popen(
                [str(vibetuner), "run", "worker"], cwd=project, env=env, start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
            stack.callback(stop_group, worker)
            wait_for_worker(worker, env, log)
        wait_until_serving(process, url, log)
        yield LiveServer(url, smtp, idp, name, database_url, log, redis.get("REDIS_URL"))


@pytest.fixture(scope="session")
async def vibetuner_browser() -> AsyncIterator[Browser]:
    """A headless Chromium (Playwright's async API) with a fresh profile, for the session.

    Browser tests are `async def` tests on the session's event loop.
    """
    from playwright.async_api import async_playwright  # the browser extra: only here

    from vibetuner.testing._live import CHROMIUM_ARGS, chromium  # test support: off pytest's start

    executable = chromium()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            await browser.close()


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


@pytest.fixture(scope="session")
def vibetuner_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server (SeaweedFS) on free ports, for the whole session."""
    from vibetuner.testing._s3 import S3Server, require_weed  # test support: off every pytest run

    require_weed()
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        yield server
