"""The signed-in user's own pages: profile (inline edit) and active sessions."""

from __future__ import annotations

from typing import Annotated

from beanie import PydanticObjectId
from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, StringConstraints, ValidationError
from starlette.responses import RedirectResponse, Response

from vibetuner.data.models.user import User
from vibetuner.frontend._deps import LoginRequired, require_user
from vibetuner.frontend._errors import validation_messages
from vibetuner.frontend._htmx import htmx
from vibetuner.frontend._sessions import session_of
from vibetuner.frontend._templating import render_template
from vibetuner.services.auth import refresh_session_user, sign_out
from vibetuner.services.auth import sign_out_everywhere as end_every_session
from vibetuner.services.sessions import SessionUser, get_session_store

router = APIRouter(prefix="/account", include_in_schema=False)
SignedIn = Annotated[SessionUser, Depends(require_user)]


class NameIn(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


async def _user(user: SessionUser):  # type: ignore[no-untyped-def]

    found = await User.get(PydanticObjectId(user.id))
    if found is None:
        raise LoginRequired("/account")
    return found


@router.get("")
async def profile(request: Request, user: SignedIn) -> Response:
    """Rendered from the session's copy of the user: no database read on this page. The
    views pass `user` on, so the page shows whoever the dependency (or its override) gave."""
    return render_template(request, "account/profile.html.jinja", {"account": user, "user": user})


@router.get("/name/edit")
async def edit_name(request: Request, user: SignedIn) -> Response:
    context = {"account": user, "user": user, "errors": []}
    return render_template(request, "account/profile.html.jinja", context, block="name_form")


@router.post("/name")
async def save_name(
    request: Request, user: SignedIn, name: Annotated[str, Form()] = ""
) -> Response:
    account = await _user(user)
    try:
        new_name = NameIn(name=name).name
    except ValidationError as exc:
        context = {"account": account, "errors": validation_messages(exc.errors())}
        return render_template(
            request, "account/profile.html.jinja", context, block="name_form", status_code=422
        )
    await account.set({"name": new_name})  # this field alone: never an admin's role change
    request.scope["user"] = refresh_session_user(session_of(request), account)
    if not htmx(request):
        return RedirectResponse("/account", status_code=303)
    return render_template(
        request, "account/profile.html.jinja", {"account": account}, block="name"
    )


@router.get("/sessions")
async def sessions(request: Request, user: SignedIn) -> Response:
    records = await get_session_store().list_for_user(user.id)
    context = {"records": records, "current_id": session_of(request).id, "user": user}
    return render_template(request, "account/sessions.html.jinja", context)


@router.post("/sessions/sign-out-everywhere")
async def sign_out_everywhere(request: Request, user: SignedIn) -> Response:
    await end_every_session(user.id)
    sign_out(session_of(request))
    return RedirectResponse("/auth/login", status_code=303)
