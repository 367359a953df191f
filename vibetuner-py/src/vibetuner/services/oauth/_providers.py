"""Which OAuth providers this app offers, from settings: Google, GitHub, any OIDC issuer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from vibetuner.config import Settings

if TYPE_CHECKING:
    from pydantic import SecretStr


DISCOVERY_PATH = "/.well-known/openid-configuration"
"""Where an OpenID issuer publishes its configuration, under its own URL."""


@dataclass(frozen=True)
class Provider:
    name: str
    title: str
    kind: Literal["oidc", "github"]
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]
    metadata_url: str | None = None
    authorize_url: str | None = None
    token_url: str | None = None
    api_url: str | None = None


def _oidc(
    name: str,
    title: str,
    client_id: str,
    secret: SecretStr,
    scopes: Iterable[str],
    metadata_url: str,
) -> Provider:
    """An OpenID Connect provider, found through its discovery document."""
    return Provider(name, title, "oidc", client_id, secret.get_secret_value(), tuple(scopes),
                    metadata_url=metadata_url)  # fmt: skip


def configured_providers(settings: Settings) -> list[Provider]:
    providers: list[Provider] = []
    if settings.google_client_id and settings.google_client_secret:
        client_id, secret = settings.google_client_id, settings.google_client_secret
        scopes, discovery = ("openid", "email", "profile"), settings.google_discovery_url
        providers.append(_oidc("google", "Google", client_id, secret, scopes, discovery))
    if settings.github_client_id and settings.github_client_secret:
        web = settings.github_url.rstrip("/")
        providers.append(
            Provider(
                name="github",
                title="GitHub",
                kind="github",
                client_id=settings.github_client_id,
                client_secret=settings.github_client_secret.get_secret_value(),
                scopes=("read:user", "user:email"),
                authorize_url=f"{web}/login/oauth/authorize",
                token_url=f"{web}/login/oauth/access_token",
                api_url=settings.github_api_url.rstrip("/"),
            )
        )
    for oidc in settings.oidc_providers:
        title = oidc.title or oidc.name.replace("-", " ").title()
        discovery = oidc.issuer.rstrip("/") + DISCOVERY_PATH
        secret = oidc.client_secret
        providers.append(_oidc(oidc.name, title, oidc.client_id, secret, oidc.scopes, discovery))
    return providers


def get_provider(settings: Settings, name: str) -> Provider | None:
    return next((p for p in configured_providers(settings) if p.name == name), None)
