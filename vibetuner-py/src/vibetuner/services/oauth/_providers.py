"""Which OAuth providers this app offers, from settings: Google, GitHub, any OIDC issuer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vibetuner.config import Settings


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


def configured_providers(settings: Settings) -> list[Provider]:
    providers: list[Provider] = []
    if settings.google_client_id and settings.google_client_secret:
        providers.append(
            Provider(
                name="google",
                title="Google",
                kind="oidc",
                client_id=settings.google_client_id,
                client_secret=settings.google_client_secret.get_secret_value(),
                scopes=("openid", "email", "profile"),
                metadata_url=settings.google_discovery_url,
            )
        )
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
        providers.append(
            Provider(
                name=oidc.name,
                title=oidc.title or oidc.name.replace("-", " ").title(),
                kind="oidc",
                client_id=oidc.client_id,
                client_secret=oidc.client_secret.get_secret_value(),
                scopes=tuple(oidc.scopes),
                metadata_url=f"{oidc.issuer.rstrip('/')}/.well-known/openid-configuration",
            )
        )
    return providers


def get_provider(settings: Settings, name: str) -> Provider | None:
    return next((p for p in configured_providers(settings) if p.name == name), None)
