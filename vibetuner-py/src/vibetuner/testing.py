"""Pytest fixtures for apps and for the framework: a real database server, an HTTP client.

Registered as a pytest plugin. Define a `vibetuner_app` fixture that returns your app, then
use `client` in tests:

    @pytest.fixture(scope="session")
    def vibetuner_app(vibetuner_database_url):
        from app.frontend import app
        return app
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

    from vibetuner.embedded import EmbeddedMongo


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
