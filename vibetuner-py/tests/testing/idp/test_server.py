"""Lifecycle: servers start on free ports, stop cleanly, and leave no thread or socket behind."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

import vibetuner.testing.idp as testing_idp
from vibetuner.testing.idp import LocalGitHub, LocalOIDCProvider, github_server, oidc_provider
from vibetuner.testing.idp._server import BackgroundServer, BackgroundWSGIServer, ThreadedServer


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _idp_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("vibetuner-idp-")]


def test_public_names_are_curated() -> None:
    assert testing_idp.__all__ == sorted(testing_idp.__all__)
    assert testing_idp.__all__ == [
        "DEFECTS",
        "Defect",
        "GitHubEmail",
        "GitHubUser",
        "Identity",
        "LocalGitHub",
        "LocalOIDCProvider",
        "github_server",
        "oidc_provider",
    ]


def test_sync_context_managers_start_and_stop() -> None:
    with oidc_provider() as oidc, github_server() as github:
        assert oidc.port != github.port
        assert oidc.running and github.running
        assert httpx.get(oidc.metadata_url).status_code == 200
        assert httpx.get(f"{github.api_url}/user").status_code == 401
        ports = (oidc.port, github.port)
    assert not any(_accepts(port) for port in ports)
    assert not _idp_threads()


async def test_async_context_manager_and_double_stop() -> None:
    provider = LocalOIDCProvider()
    async with provider:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{provider.issuer}/jwks")
        assert response.json()["keys"][0]["kty"] == "RSA"
        assert "d" not in response.json()["keys"][0]  # never the private half
    provider.stop()
    assert not provider.running
    assert not _accepts(provider.port)
    assert not _idp_threads()


@pytest.mark.parametrize("kind", [LocalGitHub, LocalOIDCProvider])
def test_restart_on_the_same_port(kind: type[ThreadedServer]) -> None:
    server = kind()
    for _ in range(2):
        server.start()
        assert _accepts(server.port)
        server.stop()
        assert not _accepts(server.port)


@pytest.mark.parametrize("wsgi", [False, True])
def test_a_taken_port_fails_fast_and_cleans_up(wsgi: bool) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server: ThreadedServer = (
            BackgroundWSGIServer(LocalOIDCProvider().provider, port=port)
            if wsgi
            else BackgroundServer(LocalGitHub().app, port=port)
        )
        with pytest.raises(RuntimeError):
            server.start(timeout=5)
    assert not server.running
    assert not _idp_threads()
