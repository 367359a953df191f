"""Tests run against a real MongoDB-wire server started by vibetuner's pytest plugin."""

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page
from vibetuner.testing import LiveServer, sign_in_as, watch_page


@pytest.fixture(scope="session")
def vibetuner_app(vibetuner_database_url: str):
    from app.frontend import app

    return app


@pytest.fixture
async def signed_in(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same client, signed in as a test user."""
    await sign_in_as(client, "writer@example.com", name="Writer")
    return client


@pytest.fixture
async def page(
    vibetuner_browser: Browser, vibetuner_live_server: LiveServer
) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies) whose base URL is the live server."""
    context = await vibetuner_browser.new_context(base_url=vibetuner_live_server.url)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    problems = watch_page(page)
    yield page
    await context.close()
    assert problems == [], "\n".join(problems)
