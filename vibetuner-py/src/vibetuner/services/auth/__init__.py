"""Accounts and sign-in: magic links, OAuth identities, sessions per user."""

from vibetuner.services.auth._accounts import (
    get_or_create_user,
    refresh_session_user,
    sign_in,
    sign_out,
    sign_out_everywhere,
    snapshot,
)
from vibetuner.services.auth._magic import (
    InvalidMagicLink,
    LinkProblem,
    consume_magic_link,
    issue_magic_link,
)

__all__ = [
    "InvalidMagicLink",
    "LinkProblem",
    "consume_magic_link",
    "get_or_create_user",
    "issue_magic_link",
    "refresh_session_user",
    "sign_in",
    "sign_out",
    "sign_out_everywhere",
    "snapshot",
]
