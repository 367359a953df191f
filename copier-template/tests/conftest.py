"""Tests run against a real MongoDB-wire server started by vibetuner's pytest plugin."""

import httpx
import pytest
from vibetuner.testing import sign_in_as


@pytest.fixture(scope="session")
def vibetuner_app(vibetuner_database_url: str):
    from app.frontend import app

    return app


@pytest.fixture
async def signed_in(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same client, signed in as a test user."""
    await sign_in_as(client, "writer@example.com", name="Writer")
    return client
