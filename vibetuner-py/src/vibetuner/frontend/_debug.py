"""What the debug console shows and who may see it: routes, settings with secrets
redacted, sessions, jobs, recent errors and migrations; admins only, unlocked in prod."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, SecretStr
from starlette.exceptions import HTTPException
from starlette.requests import Request

from vibetuner.config import Settings, get_settings, redact_url
from vibetuner.data._mongo import get_database
from vibetuner.data.migrations import migration_status, migrations_folder
from vibetuner.exceptions import VibetunerError
from vibetuner.frontend._deps import user_of
from vibetuner.frontend._hosts import DEV_ONLY, socket_host
from vibetuner.frontend._sessions import session_of
from vibetuner.i18n import _
from vibetuner.server._net import is_loopback_host
from vibetuner.services import audit
from vibetuner.services.sessions import SessionUser

logger = logging.getLogger("vibetuner")

PREFIX = "/_debug"
ADMIN_ROLE = "admin"
UNLOCK_KEY = "_debug_unlock"
"""In the server-side session: `{"user": id, "until": ISO time}` once an unlock was opened."""
UNLOCKED_FOR = timedelta(minutes=30)
"""How long an opened unlock keeps this session's console open."""
REDACTED = "********"
_SECRET_NAME = re.compile(r"secret|password|token|api_key|private", re.IGNORECASE)


def admin_or_404(request: Request) -> SessionUser:
    """The signed-in admin; anyone else gets 404, so the console's existence stays hidden."""
    user = user_of(request)
    if not isinstance(user, SessionUser) or ADMIN_ROLE not in user.roles:
        raise HTTPException(404)
    return user


def unlocked(request: Request, user: SessionUser) -> bool:
    """Whether this session opened an unlock link, as this user, and it still holds."""
    mark = session_of(request).get(UNLOCK_KEY)
    if not isinstance(mark, dict) or mark.get("user") != user.id:
        return False
    try:
        until = datetime.fromisoformat(str(mark.get("until")))
    except ValueError:
        return False
    return until.tzinfo is not None and until > datetime.now(UTC)


def mark_unlocked(request: Request, user: SessionUser) -> None:
    until = datetime.now(UTC) + UNLOCKED_FOR
    session_of(request)[UNLOCK_KEY] = {"user": user.id, "until": until.isoformat()}


async def console_user(request: Request) -> SessionUser:
    """FastAPI dependency for every console page: an admin (else 404); in dev from this
    machine, in prod with an unlocked session; each visit goes to the audit log."""
    user = admin_or_404(request)
    if get_settings().is_prod:
        if not unlocked(request, user):
            raise HTTPException(
                403,
                _("The debug console is locked. Run `vibetuner debug unlock` on the server "
                  "and open the link it prints, signed in as you are now."),
            )  # fmt: skip
    elif not is_loopback_host(host := socket_host(request.scope)):
        raise HTTPException(403, DEV_ONLY.format(host=host or "missing"))
    if request.method == "GET":
        await audit_action(request, user, "debug.visit")
    return user


async def audit_action(
    request: Request, user: SessionUser, action: str, target_id: str | None = None
) -> None:
    await audit.record(
        action,
        actor_id=user.id,
        actor_email=user.email,
        target=request.url.path,
        target_id=target_id,
        request_id=request.scope.get("request_id"),
        ip=request.client.host if request.client else None,
    )


@dataclass(frozen=True)
class RouteRow:
    path: str
    methods: str
    name: str
    kind: str


def route_rows(request: Request) -> list[RouteRow]:
    """Every route and mount of the app, included routers flattened, in matching order."""
    return [
        RouteRow(
            path=context.path or "",
            methods=", ".join(sorted(context.methods or ())),
            name=context.name or "",
            kind=type(context.original_route).__name__,
        )
        for context in iter_route_contexts(request.app.routes)
    ]


def shown(name: str, value: Any) -> str:
    """A setting as the console shows it: secrets masked, URL passwords hidden."""
    if isinstance(value, SecretStr):
        return REDACTED if value.get_secret_value() else ""
    if isinstance(value, BaseModel):
        return (
            "{"
            + ", ".join(
                f"{key}: {shown(key, getattr(value, key))}" for key in type(value).model_fields
            )
            + "}"
        )
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(shown(name, item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {shown(str(k), v)}" for k, v in value.items()) + "}"
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text and _SECRET_NAME.search(name):
        return REDACTED
    if "://" in text:
        return redact_url(text)
    return text


def settings_rows(settings: Settings) -> list[tuple[str, str]]:
    """Every setting as `(ENV_NAME, shown value)`."""
    return [
        (name.upper(), shown(name, getattr(settings, name)))
        for name in sorted(type(settings).model_fields)
    ]


@dataclass(frozen=True)
class MigrationsView:
    rows: list[Any]
    problem: str | None = None

    @property
    def pending(self) -> int:
        return sum(1 for row in self.rows if not row.applied and not row.file_missing)


async def migrations_view() -> MigrationsView:
    """The app's migrations, applied and pending, or why they cannot be read."""
    try:
        rows = await migration_status(get_database(), migrations_folder())
    except VibetunerError as exc:
        return MigrationsView([], exc.message)
    return MigrationsView(rows)
