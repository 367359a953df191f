"""Local identity providers for tests: an OpenID Connect provider and a GitHub look-alike.

The OpenID provider is oidc-provider-mock's; the GitHub look-alike is ours. Each serves over
real HTTP on 127.0.0.1 and a free port, from a background thread, so the app under test, httpx
and a real browser all reach it the way they would reach Google or GitHub. Use them as context
managers (sync or async) or through the helpers below:

    with oidc_provider() as idp:
        client = idp.register_client([callback])     # the provider picks id and secret
        idp.next_identity(email="ada@example.com")   # skip the sign-in form once
        idp.next_id_token("expired")                 # and issue a bad ID token once
        ...                                          # point the app at idp.issuer

Only tests import this package; `import vibetuner` never does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from vibetuner.testing.idp._github import GitHubEmail, GitHubUser, LocalGitHub
from vibetuner.testing.idp._id_tokens import DEFECTS, Defect
from vibetuner.testing.idp._oidc import Identity, LocalOIDCProvider

__all__ = [
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


@contextmanager
def oidc_provider(
    *, port: int | None = None, require_pkce: bool = False, code_ttl: float = 60.0
) -> Iterator[LocalOIDCProvider]:
    """A started `LocalOIDCProvider`, stopped when the block (or fixture) ends."""
    with LocalOIDCProvider(port=port, require_pkce=require_pkce, code_ttl=code_ttl) as provider:
        yield provider


@contextmanager
def github_server(
    clients: Mapping[str, Mapping[str, Any]] | None = None, **options: Any
) -> Iterator[LocalGitHub]:
    """A started `LocalGitHub`, stopped when the block (or fixture) ends."""
    with LocalGitHub(clients, **options) as server:
        yield server
