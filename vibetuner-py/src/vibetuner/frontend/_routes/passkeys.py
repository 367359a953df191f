"""Passkeys: sign in with one (JSON, for the page's script), and add, rename and remove
them on the account page (htmx).

The JSON endpoints carry the CSRF token in X-CSRF-Token like htmx requests do; a refused
ceremony answers a 4xx with `{"detail": sentence, "problem": code}`.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from beanie import PydanticObjectId
from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from vibetuner.config import get_settings
from vibetuner.data.models.passkey import Passkey
from vibetuner.data.models.user import User
from vibetuner.frontend._csrf import csrf_verified
from vibetuner.frontend._deps import LoginRequired, require_user
from vibetuner.frontend._htmx import htmx
from vibetuner.frontend._redirects import safe_next
from vibetuner.frontend._routes.auth import PRIVATE, link_origin, page_origin, set_device_cookie
from vibetuner.frontend._sessions import session_of
from vibetuner.frontend._templating import render_template
from vibetuner.i18n import _, get_locale
from vibetuner.services.auth import sign_in
from vibetuner.services.email import EmailDeliveryError
from vibetuner.services.passkeys import (
    PasskeyFailed,
    PasskeyProblem,
    RelyingParty,
    begin_registration,
    begin_sign_in,
    clean_name,
    count_sign_in,
    count_sign_in_options,
    finish_registration,
    finish_sign_in,
    get_passkey,
    passkeys_of,
    relying_party,
    remove_passkey,
    rename_passkey,
    unavailable_here,
)
from vibetuner.services.sessions import SessionUser
from vibetuner.tasks._builtin import send_email_soon

router = APIRouter(include_in_schema=False)
SignedIn = Annotated[SessionUser, Depends(require_user)]
logger = logging.getLogger("vibetuner.passkeys")
PAGE = "account/passkeys.html.jinja"
ROW = "account/_passkey.html.jinja"
JSON_LIMIT = 64 * 1024
"""Largest JSON body a ceremony takes: a passkey's answer is a few kilobytes."""


class Credential(BaseModel):
    credential: dict[str, Any]
    """The browser's PublicKeyCredential, as JSON (base64url for binary values)."""


class SignInIn(Credential):
    next: str | None = Field(default=None, max_length=2000)


class NameIn(BaseModel):
    name: str = Field(default="", max_length=1000)


class RegisterIn(Credential, NameIn):
    pass


def _refused(exc: PasskeyFailed) -> JSONResponse:
    body = {"detail": exc.message, "problem": exc.problem.value}
    return JSONResponse(body, status_code=exc.status_code, headers=PRIVATE)


def _rp(request: Request) -> RelyingParty:
    return relying_party(get_settings(), page_origin(request))


async def _account(user: SessionUser) -> User:
    found = await User.get(PydanticObjectId(user.id))
    if found is None:
        raise LoginRequired("/account")
    return found


# --- signing in ------------------------------------------------------------------------------


@router.post("/auth/passkey/options", max_body_size=JSON_LIMIT)
async def sign_in_options(request: Request) -> Response:
    """A challenge for `navigator.credentials.get()`, remembered by this session."""
    await count_sign_in_options(request.client.host if request.client else None)
    try:
        options = await begin_sign_in(session_of(request), _rp(request))
    except PasskeyFailed as exc:
        return _refused(exc)
    return JSONResponse(options, headers=PRIVATE)


@router.post("/auth/passkey", max_body_size=JSON_LIMIT)
async def passkey_sign_in(request: Request, body: SignInIn) -> Response:
    """Sign in with the passkey that signed this session's challenge: the same sign-in as
    a magic link's (a new session id, the user's generation, inactive users refused)."""
    if not csrf_verified(request):  # a forged request must not sign a visitor in
        message = _("This sign-in expired or did not come from this site. Reload the page.")
        return JSONResponse({"detail": message, "problem": "csrf"}, 403, headers=PRIVATE)
    await count_sign_in(request.client.host if request.client else None)
    try:
        user, _used = await finish_sign_in(session_of(request), _rp(request), body.credential)
    except PasskeyFailed as exc:
        return _refused(exc)
    signed_in = await sign_in(session_of(request), user)
    if not signed_in.is_authenticated:
        message = _("This account is deactivated.")
        return _refused(PasskeyFailed(PasskeyProblem.INACTIVE, message))
    request.scope["user"] = signed_in
    response = JSONResponse({"redirect": safe_next(body.next)}, headers=PRIVATE)
    set_device_cookie(request, response, user.email)
    return response


# --- the account page ------------------------------------------------------------------------


async def _list(request: Request, user: SessionUser, *, status_code: int = 200) -> Response:
    context = {
        "passkeys": await passkeys_of(user.id),
        "unavailable": unavailable_here(get_settings(), page_origin(request)),
        "user": user,
    }
    return render_template(request, PAGE, context, htmx_block="passkeys", status_code=status_code)


@router.get("/account/passkeys")
async def passkeys_page(request: Request, user: SignedIn) -> Response:
    """The user's passkeys with the form to add one: a page, or the account page's section."""
    return await _list(request, user)


@router.post("/account/passkeys/options", max_body_size=JSON_LIMIT)
async def registration_options(request: Request, user: SignedIn, body: NameIn) -> Response:
    """A challenge for `navigator.credentials.create()`, once the name is fine."""
    try:
        clean_name(body.name)
        options = await begin_registration(session_of(request), _rp(request), await _account(user))
    except PasskeyFailed as exc:
        return _refused(exc)
    return JSONResponse(options, headers=PRIVATE)


@router.post("/account/passkeys", max_body_size=JSON_LIMIT)
async def add_passkey(request: Request, user: SignedIn, body: RegisterIn) -> Response:
    """Store the passkey the browser just created, under its name."""
    try:
        passkey = await finish_registration(
            session_of(request), _rp(request), await _account(user), body.credential, body.name
        )
    except PasskeyFailed as exc:
        return _refused(exc)
    await _tell_the_owner(request, user, passkey)
    return JSONResponse({"id": str(passkey.id), "name": passkey.name}, 201, headers=PRIVATE)


async def _tell_the_owner(request: Request, user: SessionUser, passkey: Passkey) -> None:
    """A passkey signs in on its own and outlives "sign out everywhere": its owner hears of
    every new one, so one added from a stolen session does not go unseen."""
    prefix = request.scope.get("locale_prefix", "")
    context = {
        "name": passkey.name,
        "link": f"{link_origin(request)}{prefix}/account/passkeys",
        "project_name": get_settings().project_name,
        "locale": get_locale(),
    }
    try:
        await send_email_soon(user.email, "passkey_added", context)  # the job queue with Redis
    except EmailDeliveryError as exc:  # sent inline (no Redis): the passkey is added anyway
        logger.warning("could not tell the owner about a new passkey: %s", exc)


async def _own(user: SessionUser, passkey_id: str) -> Passkey:
    passkey = await get_passkey(user.id, passkey_id)
    if passkey is None:
        raise HTTPException(404, _("This passkey does not exist (any more)."))
    return passkey


@router.get("/account/passkeys/{passkey_id:objectid}")
async def passkey_row(request: Request, passkey_id: str, user: SignedIn) -> Response:
    """One passkey's row (the rename form's Cancel); pages go to the list."""
    passkey = await _own(user, passkey_id)
    if not htmx(request):
        return RedirectResponse("/account/passkeys", status_code=303)
    return render_template(request, ROW, {"passkey": passkey})


@router.get("/account/passkeys/{passkey_id:objectid}/edit")
async def edit_passkey(request: Request, passkey_id: str, user: SignedIn) -> Response:
    passkey = await _own(user, passkey_id)
    context = {"passkey": passkey, "errors": [], "name": passkey.name}
    return render_template(request, PAGE, context, block="rename_form")


@router.post("/account/passkeys/{passkey_id:objectid}/name")
async def save_passkey_name(
    request: Request, passkey_id: str, user: SignedIn, name: Annotated[str, Form()] = ""
) -> Response:
    passkey = await _own(user, passkey_id)
    try:
        await rename_passkey(user.id, passkey_id, name)
    except PasskeyFailed as exc:
        context = {"passkey": passkey, "errors": [exc.message], "name": name}
        return render_template(
            request, PAGE, context, block="rename_form", status_code=exc.status_code
        )
    if not htmx(request):
        return RedirectResponse("/account/passkeys", status_code=303)
    return render_template(request, ROW, {"passkey": await _own(user, passkey_id)})


@router.post("/account/passkeys/{passkey_id:objectid}/delete")
async def delete_passkey(request: Request, passkey_id: str, user: SignedIn) -> Response:
    """Remove the passkey; magic links and OAuth still sign the user in."""
    if not await remove_passkey(user.id, passkey_id):
        await _own(user, passkey_id)  # the 404 that says so
    if not htmx(request):
        return RedirectResponse("/account/passkeys", status_code=303)
    return await _list(request, user)
