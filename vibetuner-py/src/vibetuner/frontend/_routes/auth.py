"""Sign in with a magic link (or an OAuth provider), and sign out."""

from __future__ import annotations

import hashlib
import logging
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Form, Query, Request
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from vibetuner.config import get_settings
from vibetuner.exceptions import ConfigError
from vibetuner.frontend._deps import user_of
from vibetuner.frontend._redirects import safe_next
from vibetuner.frontend._sessions import session_of
from vibetuner.frontend._templating import render_template
from vibetuner.i18n import _, get_locale
from vibetuner.services.auth import (
    InvalidMagicLink,
    consume_magic_link,
    get_or_create_user,
    issue_magic_link,
    sign_in,
    sign_out,
)
from vibetuner.services.oauth import (
    OAuthFailed,
    authorization_url,
    complete,
    configured_providers,
    get_provider,
    user_for_identity,
)
from vibetuner.services.ratelimit import enforce
from vibetuner.tasks._builtin import send_email_soon

router = APIRouter(prefix="/auth", include_in_schema=False)
logger = logging.getLogger("vibetuner.auth")


def _providers() -> list[dict[str, str]]:
    return [{"name": p.name, "title": p.title} for p in configured_providers(get_settings())]


def _login_page(
    request: Request, next_url: str, *, email: str = "", errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:  # fmt: skip
    context = {
        "next_url": next_url,
        "email": email,
        "errors": errors or [],
        "providers": _providers(),
    }
    return render_template(
        request, "auth/login.html.jinja", context, htmx_block="login_form", status_code=status_code
    )


@router.get("/login")
async def login(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    next_url = safe_next(next)
    if user_of(request).is_authenticated:
        return RedirectResponse(next_url, status_code=303)
    return _login_page(request, next_url)


@router.post("/magic-link")
async def request_magic_link(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """The same answer whether or not the account exists: no account discovery."""
    settings = get_settings()
    next_url = safe_next(next)
    try:
        address = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        message = _("Enter a valid email address, like you@example.com.")
        return _login_page(request, next_url, email=email, errors=[message], status_code=422)
    client = request.client.host if request.client else "unknown"
    await enforce(f"login:ip:{client}", settings.rate_limit_login_ip)
    digest = hashlib.sha256(address.encode()).hexdigest()[:32]
    await enforce(f"login:email:{digest}", settings.rate_limit_login_email)
    token = await issue_magic_link(address, next_url, settings.magic_link_max_age)
    link = f"{_base_url(request)}/auth/magic/{token}"
    minutes = max(1, settings.magic_link_max_age // 60)
    context = {"link": link, "minutes": minutes, "project_name": settings.project_name}
    context["locale"] = get_locale()  # the email speaks the language of the page
    await send_email_soon(address, "magic_link", context)  # via the job queue with Redis
    return render_template(
        request, "auth/check_email.html.jinja", {"email": address}, htmx_block="login_form"
    )


def _base_url(request: Request) -> str:
    """Links in emails use BASE_URL; without it (dev only) the URL this request came to."""
    settings = get_settings()
    if settings.base_url:
        return settings.public_url
    if settings.is_prod:
        raise ConfigError(
            "BASE_URL is not set, so sign-in links cannot be built safely.",
            fix="Set BASE_URL=https://your-domain in the environment.",
        )
    return str(request.base_url).rstrip("/")


@router.get("/magic/{token}")
async def open_magic_link(request: Request, token: str) -> Response:
    try:
        link = await consume_magic_link(token)
    except InvalidMagicLink as exc:
        context = {"problem": exc.problem.value, "email": exc.email or ""}
        return render_template(request, "auth/link_invalid.html.jinja", context, status_code=400)
    user = await get_or_create_user(link.email)
    if not user.is_active:
        context = {"problem": "inactive", "email": ""}
        return render_template(request, "auth/link_invalid.html.jinja", context, status_code=400)
    request.scope["user"] = await sign_in(session_of(request), user)
    return RedirectResponse(safe_next(link.next_url), status_code=303)


@router.get("/logout")
async def logout_confirm(request: Request) -> Response:
    """A GET never signs out (links can be prefetched); it asks to confirm with a POST."""
    if not user_of(request).is_authenticated:
        return RedirectResponse("/", status_code=303)
    return render_template(request, "auth/logout.html.jinja")


@router.post("/logout")
async def logout(request: Request) -> Response:
    sign_out(session_of(request))
    return RedirectResponse("/", status_code=303)


def _oauth_provider(name: str):  # type: ignore[no-untyped-def]

    provider = get_provider(get_settings(), name)
    if provider is None:
        raise HTTPException(404, _("This sign-in provider is not configured."))
    return provider


def _callback_url(request: Request, name: str) -> str:
    return f"{_base_url(request)}/auth/oauth/{name}/callback"


@router.get("/oauth/{name}/start")
async def oauth_start(
    request: Request, name: str, next: Annotated[str | None, Query()] = None
) -> Response:
    provider = _oauth_provider(name)
    try:
        url = await authorization_url(
            session_of(request), provider, _callback_url(request, name), safe_next(next)
        )
    except OAuthFailed as exc:
        return _oauth_error(request, exc.message)
    return RedirectResponse(url, status_code=303)


@router.get("/oauth/{name}/callback")
async def oauth_callback(request: Request, name: str) -> Response:
    provider = _oauth_provider(name)
    params = {k: v for k, v in request.query_params.items() if k in ("state", "code", "error")}
    try:
        identity, next_url = await complete(
            session_of(request), provider, _callback_url(request, name), params
        )
        user = await user_for_identity(identity)
    except OAuthFailed as exc:
        return _oauth_error(request, exc.message)
    if not user.is_active:
        return _oauth_error(request, _("This account is deactivated."))
    request.scope["user"] = await sign_in(session_of(request), user)
    return RedirectResponse(safe_next(next_url), status_code=303)


def _oauth_error(request: Request, message: str) -> Response:
    return render_template(
        request, "auth/oauth_error.html.jinja", {"message": message}, status_code=400
    )
