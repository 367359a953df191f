"""A provider per test: each starts on a free port and is stopped when the test ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vibetuner.testing.idp import LocalGitHub, LocalOIDCProvider, github_server, oidc_provider
from vibetuner.testing.idp._oidc import Client

CLIENT_ID = "vibetuner-app"
CLIENT_SECRET = "app-secret"
CALLBACK = "http://app.test/auth/callback"


@pytest.fixture
def oidc() -> Iterator[LocalOIDCProvider]:
    with oidc_provider() as provider:
        yield provider


@pytest.fixture
def oidc_client(oidc: LocalOIDCProvider) -> Client:
    """The relying party under test, registered with the one callback it uses."""
    return oidc.register_client([CALLBACK])


@pytest.fixture
def github() -> Iterator[LocalGitHub]:
    clients = {CLIENT_ID: {"secret": CLIENT_SECRET, "redirect_uris": [CALLBACK]}}
    with github_server(clients) as server:
        yield server
