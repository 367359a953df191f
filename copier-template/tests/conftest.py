"""Tests run against a real MongoDB-wire server started by vibetuner's pytest plugin."""

import pytest


@pytest.fixture(scope="session")
def vibetuner_app(vibetuner_database_url: str):
    from app.frontend import app

    return app
