"""Users and their sessions: create on first sign-in, sign in and out, everywhere."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from vibetuner.data.models.user import User
from vibetuner.services.sessions import (
    ANONYMOUS,
    USER_KEY,
    AnonymousUser,
    Session,
    SessionUser,
    get_session_store,
)


async def get_or_create_user(
    email: str, *, name: str = "", avatar_url: str | None = None, locale: str | None = None
) -> User:
    """The user with this (verified) email, created on first sign-in."""
    email = User.normalize_email(email)
    user = await User.find_one({"email": email})
    if user is not None:
        return user
    try:
        return await User(email=email, name=name, avatar_url=avatar_url, locale=locale).insert()
    except DuplicateKeyError:
        # Two first sign-ins raced: the other one created the account.
        existing = await User.find_one({"email": email})
        assert existing is not None
        return existing


def snapshot(user: User) -> SessionUser:
    return SessionUser(
        id=str(user.id),
        email=user.email,
        name=user.name,
        avatar_url=user.avatar_url,
        locale=user.locale,
        roles=tuple(user.roles),
    )


async def sign_in(session: Session, user: User) -> SessionUser | AnonymousUser:
    """Start an authenticated session under a new id (no fixation); the signed-in user, or
    the anonymous one (nothing signed in) when the account is gone or was just deactivated.
    The session keeps its data, unless another user was signed in on it (as Django does).

    The user is read again after their session generation: a role change or deactivation
    that finishes meanwhile either shows in this read or makes the store refuse the session.
    """
    generation = await get_session_store().generation(str(user.id))
    fresh = await User.get(user.id)
    if fresh is None or not fresh.is_active:
        return ANONYMOUS
    if session.user_id is not None and session.user_id != str(fresh.id):
        session.clear()  # someone else signs in on this browser: the last user's data stays
    record = session.rotate()
    record.user_id = str(fresh.id)
    record.generation = generation
    signed_in = snapshot(fresh)
    session[USER_KEY] = signed_in.to_json()
    # This field alone: a whole-document save would write back the roles and is_active read
    # above over a demotion or deactivation that finished meanwhile.
    await fresh.set({"last_login_at": datetime.now(UTC)})
    return signed_in


def refresh_session_user(session: Session, user: User) -> SessionUser:
    """After a profile change: the session's copy of the user follows the database."""
    signed_in = snapshot(user)
    session[USER_KEY] = signed_in.to_json()
    return signed_in


def sign_out(session: Session) -> None:
    session.destroy()


async def sign_out_everywhere(user_id: str) -> int:
    """End every session of the user, on every device; returns how many ended."""
    return await get_session_store().delete_for_user(user_id)
