"""Passkeys (WebAuthn): register them on the account page, sign in with them, manage them.

The `webauthn` package checks every answer; it loads with the first ceremony, not at
startup. A passkey sign-in ends in `services.auth.sign_in`, like magic links and OAuth.
"""

from __future__ import annotations

from vibetuner.config import get_settings
from vibetuner.services.passkeys._ceremonies import (
    begin_registration,
    begin_sign_in,
    finish_registration,
    finish_sign_in,
)
from vibetuner.services.passkeys._challenges import issue_challenge, take_challenge
from vibetuner.services.passkeys._manage import (
    MAX_PASSKEYS,
    NAME_MAX,
    clean_name,
    get_passkey,
    passkeys_of,
    remove_passkey,
    rename_passkey,
)
from vibetuner.services.passkeys._relying_party import (
    PasskeyFailed,
    PasskeyProblem,
    RelyingParty,
    offered_at,
    relying_party,
    unavailable_here,
)
from vibetuner.services.ratelimit import client_network, enforce

__all__ = [
    "MAX_PASSKEYS",
    "NAME_MAX",
    "PasskeyFailed",
    "PasskeyProblem",
    "RelyingParty",
    "begin_registration",
    "begin_sign_in",
    "clean_name",
    "count_sign_in",
    "count_sign_in_options",
    "finish_registration",
    "finish_sign_in",
    "get_passkey",
    "issue_challenge",
    "offered_at",
    "passkeys_of",
    "relying_party",
    "remove_passkey",
    "rename_passkey",
    "take_challenge",
    "unavailable_here",
]


async def count_sign_in(host: str | None) -> None:
    """Count a passkey sign-in attempt from the client's network: a 429 past
    RATE_LIMIT_PASSKEY, as for sign-in links."""
    network = client_network(host)
    await enforce(f"passkey:net:{network}", get_settings().rate_limit_passkey)


async def count_sign_in_options(host: str | None) -> None:
    """Count a sign-in challenge (one per sign-in page): a 429 past
    RATE_LIMIT_PASSKEY_OPTIONS, so nobody fills the database with challenges."""
    network = client_network(host)
    await enforce(f"passkey:options:{network}", get_settings().rate_limit_passkey_options)
