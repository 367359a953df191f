"""The language switcher's target: remember the choice (cookie, and the account when signed in)."""

from __future__ import annotations

from typing import Annotated

from beanie import PydanticObjectId
from fastapi import APIRouter, Form, Request
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from vibetuner.config import get_settings
from vibetuner.data.models.user import User
from vibetuner.frontend._deps import user_of
from vibetuner.frontend._htmx import htmx
from vibetuner.frontend._redirects import safe_next
from vibetuner.frontend._sessions import session_of
from vibetuner.i18n import _, current_catalogs
from vibetuner.services.auth import refresh_session_user
from vibetuner.services.sessions import SessionUser

router = APIRouter(prefix="/i18n", include_in_schema=False)
COOKIE_MAX_AGE = 365 * 24 * 3600
SET_LANGUAGE_PATH = "/i18n/language"


@router.post("/language")
async def set_language(
    request: Request,
    language: Annotated[str, Form(max_length=35)] = "",
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """POST language=es&next=/posts: a 303 back to `next`, now in that language."""
    settings = get_settings()
    catalogs = current_catalogs()
    code = catalogs.match(language) if language else None
    if code is None:
        raise HTTPException(400, _("That language is not available."))
    target = next or "/"
    home = "/"
    if settings.language_url_prefix:
        home = catalogs.localized_path(home, code)
        if target.startswith("/"):
            target = catalogs.localized_path(target, code)
    target = safe_next(target, default=home)  # last, after every rewrite of the path
    user = user_of(request)
    if isinstance(user, SessionUser) and user.locale != code:
        await _remember(request, user, code)
    if htmx(request):
        response: Response = Response(status_code=204, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        settings.language_cookie,
        code,
        max_age=COOKIE_MAX_AGE,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


async def _remember(request: Request, user: SessionUser, code: str) -> None:
    """Store the choice on the account, so every device and email follows it."""
    account = await User.get(PydanticObjectId(user.id))
    if account is None:
        return
    await account.set({"locale": code})  # this field alone: never an admin's role change
    request.scope["user"] = refresh_session_user(session_of(request), account)
