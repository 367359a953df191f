"""Administering accounts: create, list, deactivate and change roles.

Deactivating a user or changing their roles ends every session they have, so no browser
keeps privileges the account no longer has; they sign in again with the new ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pymongo.errors import DuplicateKeyError

from vibetuner.data.models.user import User
from vibetuner.exceptions import InvalidInput, ServiceUnavailable, VibetunerError
from vibetuner.services.auth import sign_out_everywhere
from vibetuner.services.sessions import get_session_store

ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def valid_email(email: str) -> str:
    """The normalised address, or an error saying what a valid one looks like."""
    from email_validator import (  # email_validator: off startup, loads on use
        EmailNotValidError,
        validate_email,
    )

    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidInput(
            f"{email!r} is not a valid email address ({exc}).",
            fix="Give an address like ada@example.com.",
        ) from exc


def valid_role(role: str) -> str:
    if not ROLE_PATTERN.match(role):
        raise InvalidInput(
            f"{role!r} is not a valid role name.",
            fix="Use lowercase letters, digits, '-' or '_', starting with a letter (e.g. admin).",
        )
    return role


async def find_user(email: str) -> User:
    user = await User.by_email(valid_email(email))
    if user is None:
        raise VibetunerError(
            f"No user with the email {email.strip().lower()}.",
            fix="Check the address with `vibetuner users list`, or create the user first.",
        )
    return user


async def create_user(email: str, *, name: str = "", roles: Iterable[str] = ()) -> User:
    """A new, active user; an existing address is an error rather than a silent update."""
    address = valid_email(email)
    wanted = sorted({valid_role(role) for role in roles})
    exists = VibetunerError(
        f"A user with the email {address} already exists.",
        fix=f"Change their roles with `vibetuner users roles {address} --add ROLE`.",
    )
    if await User.by_email(address) is not None:
        raise exists
    try:
        return await User(email=address, name=name.strip(), roles=wanted).insert()
    except DuplicateKeyError as exc:
        raise exists from exc


async def list_users(*, role: str | None = None, active_only: bool = False) -> list[User]:
    query: dict[str, object] = {}
    if role is not None:
        query["roles"] = valid_role(role)
    if active_only:
        query["is_active"] = True
    return await User.find(query).sort("email").to_list()


async def end_sessions(user: User) -> int:
    """Sign the user out everywhere: their next request is anonymous."""
    return await sign_out_everywhere(str(user.id))


async def set_active(email: str, active: bool) -> tuple[User, int]:
    """Activate or deactivate; returns the user and how many sessions ended."""
    user = await find_user(email)
    if active:
        await user.set({"is_active": True})  # this field alone: a profile save may run meanwhile
        return user, 0
    await _sessions_answer(user)
    await user.set({"is_active": False})
    return user, await _end_sessions_after(user, "The deactivation")


async def change_roles(
    email: str, *, add: Iterable[str] = (), remove: Iterable[str] = ()
) -> tuple[User, int]:
    """Add and remove roles; any real change ends the user's sessions."""
    adding = {valid_role(role) for role in add}
    removing = {valid_role(role) for role in remove}
    if adding & removing:
        raise InvalidInput(
            f"{', '.join(sorted(adding & removing))} is both added and removed.",
            fix="Pass each role to --add or to --remove, not both.",
        )
    user = await find_user(email)
    roles = sorted((set(user.roles) | adding) - removing)
    if roles == sorted(user.roles) and not removing:
        return user, 0
    # Taking a role away always ends the sessions that may still hold it, also when the
    # account no longer has it: a second run after a failed one finishes the job.
    await _sessions_answer(user)
    if roles != sorted(user.roles):
        await user.set({"roles": roles})
    return user, await _end_sessions_after(user, "The role change")


async def _sessions_answer(user: User) -> None:
    """Ending sessions needs the session store: asked before anything is written, so a change
    is never saved while the sessions keep what it took away."""
    try:
        await get_session_store().generation(str(user.id))
    except Exception as exc:
        raise ServiceUnavailable(f"The session store ({type(exc).__name__}: {exc})") from exc


async def _end_sessions_after(user: User, change: str) -> int:
    try:
        return await end_sessions(user)
    except Exception as exc:
        raise VibetunerError(
            f"{change} is saved, but {user.email}'s sessions could not be ended "
            f"({type(exc).__name__}: {exc}).",
            fix="Run the same command again once the session store answers: it ends them.",
        ) from exc
