"""Writing through the admin: the model validates, users go through services.users, and
every change is written to the audit log."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from bson.errors import InvalidDocument
from pymongo.errors import DuplicateKeyError
from starlette.requests import Request

from vibetuner.data.models.user import User
from vibetuner.exceptions import VibetunerError
from vibetuner.frontend._admin._registry import AdminModel
from vibetuner.i18n import _
from vibetuner.services import audit as audit_log
from vibetuner.services import users
from vibetuner.services.sessions import SessionUser

SERVICE_FIELDS = ("roles", "is_active")
"""User fields changed only through services.users, which ends the user's sessions."""
T = TypeVar("T")


class FormProblems(Exception):
    """Messages for a form that could not be read or saved, shown above the form."""


async def _stored(write: Awaitable[T]) -> T:
    """A write the database refused (a unique index, a value it cannot store) is the
    form's problem, shown as a 422, not a server error."""
    try:
        return await write
    except DuplicateKeyError as exc:
        taken = ", ".join((exc.details or {}).get("keyValue") or ()) or "?"
        message = _("Another record already has this value for %(field)s.")
        raise FormProblems([message % {"field": taken}]) from exc
    except (InvalidDocument, OverflowError) as exc:  # e.g. a JSON number wider than 64 bits
        raise FormProblems([_("A value is too large to store.")]) from exc


async def create(entry: AdminModel, values: dict[str, Any]) -> Any:
    if entry.model is User:
        try:
            user = await users.create_user(
                str(values.get("email") or ""),
                name=str(values.get("name") or ""),
                roles=values.get("roles") or (),
            )
        except VibetunerError as exc:
            raise FormProblems([str(exc)]) from exc
        rest = {k: v for k, v in values.items() if k not in ("email", "name", "roles")}
        return await update(entry, user, rest) if rest else user
    document = entry.model.model_validate(values)
    return await _stored(document.insert())


async def update(entry: AdminModel, document: Any, values: dict[str, Any]) -> Any:
    """Validate the whole document with the new values, then store it."""
    current = document.model_dump()
    service = (
        {k: values.pop(k) for k in SERVICE_FIELDS if k in values} if entry.model is User else {}
    )
    checked = entry.model.model_validate({**current, **values, **service})
    for name in values:
        setattr(document, name, getattr(checked, name))
    if entry.model is User:
        return await _update_user(document, service)
    await _stored(document.save())
    return document


async def _update_user(user: User, service: dict[str, Any]) -> User:
    """Everything is checked before anything is written: a refused form changes nothing
    (and so needs no audit entry)."""
    try:
        user.email = users.valid_email(user.email)
        for role in service.get("roles") or ():
            users.valid_role(role)
        await _stored(user.save())
        if "roles" in service:
            wanted, held = set(service["roles"] or ()), set(user.roles)
            user, _ended = await users.change_roles(
                user.email, add=wanted - held, remove=held - wanted
            )
        if "is_active" in service and bool(service["is_active"]) != user.is_active:
            user, _ended = await users.set_active(user.email, bool(service["is_active"]))
    except VibetunerError as exc:
        raise FormProblems([str(exc)]) from exc
    return user


async def delete(entry: AdminModel, document: Any) -> None:
    if entry.model is User:
        await users.end_sessions(document)  # a deleted account keeps no open browser
    await document.delete()


async def audit(
    request: Request,
    actor: SessionUser,
    action: str,
    entry: AdminModel,
    document: Any,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await audit_log.record(
        action,
        actor_id=actor.id,
        actor_email=actor.email,
        target=entry.slug,
        target_id=str(document.id),
        before=before,
        after=after,
        request_id=request.scope.get("request_id"),
        ip=request.client.host if request.client else None,
    )
