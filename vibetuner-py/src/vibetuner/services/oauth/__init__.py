"""Sign in with Google, GitHub or any OpenID Connect provider (authlib underneath)."""

from vibetuner.services.oauth._flow import (
    Identity,
    OAuthFailed,
    authorization_url,
    complete,
)
from vibetuner.services.oauth._link import user_for_identity
from vibetuner.services.oauth._providers import Provider, configured_providers, get_provider

__all__ = [
    "Identity",
    "OAuthFailed",
    "Provider",
    "authorization_url",
    "complete",
    "configured_providers",
    "get_provider",
    "user_for_identity",
]
