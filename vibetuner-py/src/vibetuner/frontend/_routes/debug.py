"""The debug console at `/_debug`: routes, settings (secrets redacted), live sessions,
jobs with a retry action, recent server errors and migrations.

Admins only: anyone else gets 404 on every page. In dev an admin opens it from this
machine (localhost); in prod only after opening the single-use link that
`vibetuner debug unlock` prints. Every visit is written to the audit log.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from vibetuner.config import get_settings
from vibetuner.data._mongo import get_database
from vibetuner.exceptions import VibetunerError
from vibetuner.frontend._debug import (
    PREFIX,
    admin_or_404,
    audit_action,
    console_user,
    mark_unlocked,
    migrations_view,
    route_rows,
    settings_rows,
)
from vibetuner.frontend._templating import render_template
from vibetuner.i18n import _
from vibetuner.services.server_errors import all_server_errors
from vibetuner.services.sessions import SessionUser, get_session_store
from vibetuner.services.unlock import UnlockRefused, consume, verify_token
from vibetuner.tasks import (
    NotRetryable,
    list_dead,
    queue_length,
    retry_dead_job,
    running_jobs,
)

logger = logging.getLogger("vibetuner")

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Admin = Annotated[SessionUser, Depends(console_user)]
NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
PANEL = "panel"


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A console page; htmx tab switches get only its panel."""
    return render_template(
        request,
        f"debug/{name}.html.jinja",
        {"section": name, "prefix": PREFIX, **context},
        htmx_block=PANEL,
        status_code=status,
        headers=NO_STORE,
    )


async def _jobs() -> dict[str, Any]:
    """Queued, running and dead jobs; a queue that cannot be reached is said, not a 500."""
    try:
        queued, running = await queue_length(), await running_jobs()
    except Exception as exc:  # the console must work exactly when things are broken
        logger.warning("debug console: job queue unreachable: %s", exc)
        return {"queue_problem": f"{type(exc).__name__}: {exc}", "dead": await list_dead(100)}
    return {"queued": queued, "running": running, "dead": await list_dead(100)}


@router.get("", name="debug_home")
async def home(request: Request, user: Admin) -> HTMLResponse:
    """The summary: one number per section."""
    migrations = await migrations_view()
    context = {
        "sessions": await get_session_store().count(),
        "errors": len((await all_server_errors())[0]),
        "routes": len(route_rows(request)),
        "migrations": migrations,
        **await _jobs(),
    }
    return _page(request, "home", context)


@router.get("/routes", name="debug_routes")
async def routes(request: Request, user: Admin) -> HTMLResponse:
    return _page(request, "routes", {"routes": route_rows(request)})


@router.get("/settings", name="debug_settings")
async def settings_page(request: Request, user: Admin) -> HTMLResponse:
    return _page(request, "settings", {"settings": settings_rows(get_settings())})


@router.get("/sessions", name="debug_sessions")
async def sessions(request: Request, user: Admin) -> HTMLResponse:
    return _page(request, "sessions", {"sessions": await get_session_store().count()})


@router.get("/jobs", name="debug_jobs")
async def jobs(request: Request, user: Admin, retried: str | None = None) -> HTMLResponse:
    return _page(request, "jobs", {"retried": retried, **await _jobs()})


@router.post("/jobs/{dead_id}/retry", name="debug_retry_job")
async def retry(request: Request, user: Admin, dead_id: str) -> Response:
    """Queue a dead job again (CSRF-checked by the middleware, like every form)."""
    try:
        handle = await retry_dead_job(dead_id)
    except NotRetryable as exc:
        raise HTTPException(409, exc.message) from exc
    except VibetunerError as exc:
        raise HTTPException(404, _("No dead job with id %(id)s.") % {"id": dead_id}) from exc
    await audit_action(request, user, "debug.retry_job", target_id=dead_id)
    return RedirectResponse(f"{PREFIX}/jobs?retried={handle.id}", status_code=303)


@router.get("/errors", name="debug_errors")
async def errors(request: Request, user: Admin) -> HTMLResponse:
    found, everywhere = await all_server_errors()
    return _page(request, "errors", {"errors": found, "everywhere": everywhere})


@router.get("/migrations", name="debug_migrations")
async def migrations(request: Request, user: Admin) -> HTMLResponse:
    return _page(request, "migrations", {"migrations": await migrations_view()})


@router.get("/unlock", name="debug_unlock")
async def unlock(request: Request, token: str = "") -> Response:
    """Open the console for this admin's session: the link's signature, expiry and single
    use are checked, and a refusal says which (403), never a 500."""
    user = admin_or_404(request)
    try:
        grant = verify_token(token, get_settings().secret_key.get_secret_value())
        await consume(grant, get_database())
    except UnlockRefused as refused:
        await audit_action(request, user, f"debug.unlock_{refused.reason}")
        raise HTTPException(403, _refusal(refused.reason)) from None
    mark_unlocked(request, user)
    await audit_action(request, user, "debug.unlock")
    return RedirectResponse(PREFIX, status_code=303, headers=NO_STORE)


def _refusal(reason: str) -> str:
    if reason == "expired":
        return _("This unlock link has expired. Run `vibetuner debug unlock` for a new one.")
    if reason == "replayed":
        return _("This unlock link was already used. Run `vibetuner debug unlock` for a new one.")
    return _("This unlock link is not valid. Run `vibetuner debug unlock` for a new one.")
