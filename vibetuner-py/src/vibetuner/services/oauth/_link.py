"""From a provider's identity to one of our users, never merging on an unverified email."""

from __future__ import annotations

import contextlib

from pymongo.errors import DuplicateKeyError

from vibetuner.data.models.oauth_account import OAuthAccount
from vibetuner.data.models.user import User
from vibetuner.i18n import _
from vibetuner.services.auth import get_or_create_user
from vibetuner.services.oauth._flow import Identity, OAuthFailed


async def user_for_identity(identity: Identity) -> User:
    """The linked user; or the verified email's user, now linked; or a new user."""
    account = await OAuthAccount.find_one(
        {"provider": identity.provider, "subject": identity.subject}
    )
    if account is not None:
        user = await User.get(account.user_id)
        if user is not None:
            return user
        await account.delete()
    if not identity.email or not identity.email_verified:
        raise OAuthFailed(
            _(
                "Your email address is not verified with this provider, so we cannot sign you "
                "in with it. Verify it there, or sign in with an email link."
            )
        )

    user = await get_or_create_user(
        identity.email, name=identity.name, avatar_url=identity.avatar_url
    )
    assert user.id is not None
    # A concurrent callback may link the same identity first; either way it is linked.
    with contextlib.suppress(DuplicateKeyError):
        await OAuthAccount(
            user_id=user.id,
            provider=identity.provider,
            subject=identity.subject,
            email=identity.email,
            email_verified=identity.email_verified,
        ).insert()
    return user
