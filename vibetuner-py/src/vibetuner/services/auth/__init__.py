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
    KEEP_VALID,
    InvalidMagicLink,
    LinkProblem,
    check_magic_link,
    consume_magic_link,
    issue_magic_link,
)
from vibetuner.services.auth._throttle import (
    DEVICE_COOKIE,
    DEVICE_MAX_AGE,
    address_key,
    may_mail_link,
    remember_device,
    signed_in_here_before,
)

__all__ = [
    "DEVICE_COOKIE",
    "DEVICE_MAX_AGE",
    "KEEP_VALID",
    "InvalidMagicLink",
    "LinkProblem",
    "address_key",
    "check_magic_link",
    "consume_magic_link",
    "get_or_create_user",
    "issue_magic_link",
    "may_mail_link",
    "refresh_session_user",
    "remember_device",
    "sign_in",
    "sign_out",
    "sign_out_everywhere",
    "signed_in_here_before",
    "snapshot",
]
