"""Sign in with a magic link (or an OAuth provider), and sign out."""

from __future__ import annotations

import logging
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Form, Query, Request
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from vibetuner.config import get_settings
from vibetuner.data.models.user import User
from vibetuner.exceptions import ConfigError
from vibetuner.frontend._csrf import csrf_verified
from vibetuner.frontend._deps import user_of
from vibetuner.frontend._errors import error_response
from vibetuner.frontend._redirects import safe_next
from vibetuner.frontend._sessions import session_of
from vibetuner.frontend._templating import render_template
from vibetuner.i18n import _, get_locale
from vibetuner.services.auth import (
    DEVICE_COOKIE,
    DEVICE_MAX_AGE,
    InvalidMagicLink,
    address_key,
    check_magic_link,
    consume_magic_link,
    get_or_create_user,
    issue_magic_link,
    may_mail_link,
    remember_device,
    sign_in,
    sign_out,
    signed_in_here_before,
)
from vibetuner.services.email import EmailDeliveryError, resolve_provider_name
from vibetuner.services.oauth import (
    OAuthFailed,
    authorization_url,
    complete,
    configured_providers,
    get_provider,
    user_for_identity,
)
from vibetuner.services.passkeys import offered_at
from vibetuner.tasks._builtin import send_email_soon

router = APIRouter(prefix="/auth", include_in_schema=False)
logger = logging.getLogger("vibetuner.auth")
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
"""Pages that carry a sign-in token: never stored, and never named in a Referer."""


def page_origin(request: Request) -> str:
    """The origin this page was opened at, which the browser signs into passkey answers."""
    return f"{request.url.scheme}://{request.url.netloc}"


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
        "passkeys": offered_at(get_settings(), page_origin(request)),
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
    host = request.client.host if request.client else None
    known = signed_in_here_before(request.cookies.get(DEVICE_COOKIE), address)
    if await may_mail_link(address, host, known_device=known):
        token = await issue_magic_link(address, next_url, settings.magic_link_max_age)
        # The page it opens speaks the language of this one, on whatever device opens it.
        prefix = request.scope.get("locale_prefix", "")
        link = f"{link_origin(request)}{prefix}/auth/magic/{token}"
        minutes = max(1, settings.magic_link_max_age // 60)
        context = {"link": link, "minutes": minutes, "project_name": settings.project_name}
        context["locale"] = get_locale()  # the email speaks the language of the page
        try:
            await send_email_soon(address, "magic_link", context)  # the job queue with Redis
        except EmailDeliveryError as exc:  # sent here (no Redis), and the provider refused
            logger.error("could not send a sign-in link: %s", exc)
            message = _("The sign-in email could not be sent just now. Try again in a few "
                        "minutes.")  # fmt: skip
            return _login_page(request, next_url, email=email, errors=[message], status_code=503)
    else:
        # The same page as when a mail goes out: the cap tells nobody anything.
        logger.info("sign-in mails for address %s are capped for now", address_key(address))
    context = {"email": address, "outbox_url": _outbox_url()}
    return render_template(request, "auth/check_email.html.jinja", context, htmx_block="login_form")


def _outbox_url() -> str | None:
    """In development mail goes to the outbox, not to anyone's inbox: the page says where."""
    settings = get_settings()
    if not settings.live_reload:  # /dev/outbox exists only then
        return None
    try:
        return "/dev/outbox" if "outbox" in resolve_provider_name(settings) else None
    except ConfigError:
        return None


def link_origin(request: Request) -> str:
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
    """A page with a button that signs in. Opening the link consumes nothing: mail
    scanners and link previews open (and HEAD) every URL in a message, some running its
    JavaScript, so the page never submits itself."""
    try:
        await check_magic_link(token)
    except InvalidMagicLink as exc:
        return _link_invalid(request, exc.problem.value)
    return render_template(
        request, "auth/magic_confirm.html.jinja", {"token": token}, headers=PRIVATE
    )


@router.post("/magic")
async def confirm_magic_link(
    request: Request, token: Annotated[str, Form(max_length=128)] = ""
) -> Response:
    """Sign in with the token from the confirm page's form (CSRF-checked, so another site
    cannot sign a visitor in to an account of its choosing)."""
    if not csrf_verified(request):
        message = _(
            "This sign-in form expired or did not come from this site. "
            "Open the link from your email again."
        )
        return error_response(request, 403, messages=[message], headers=PRIVATE)
    try:
        link = await consume_magic_link(token)
    except InvalidMagicLink as exc:
        return _link_invalid(request, exc.problem.value)
    user = await get_or_create_user(link.email)
    if not user.is_active:
        return _link_invalid(request, "inactive")
    return await _signed_in(request, user, link.next_url)


def _link_invalid(request: Request, problem: str) -> Response:
    """Why the link does not work, naming no address: a stray link reveals nobody."""
    context = {"problem": problem}
    return render_template(
        request, "auth/link_invalid.html.jinja", context, status_code=400, headers=PRIVATE
    )


async def _signed_in(request: Request, user: User, next_url: str) -> Response:
    """Start the session, then go on to `next_url`."""
    request.scope["user"] = await sign_in(session_of(request), user)
    response = RedirectResponse(safe_next(next_url), status_code=303)
    set_device_cookie(request, response, user.email)
    return response


def set_device_cookie(request: Request, response: Response, email: str) -> None:
    """Remember this browser signed in as `email` (its device cookie lets it ask for
    sign-in mails when strangers used up the address's cap)."""
    settings = get_settings()
    response.set_cookie(
        DEVICE_COOKIE,
        remember_device(request.cookies.get(DEVICE_COOKIE), email),
        max_age=DEVICE_MAX_AGE,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


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
    return f"{link_origin(request)}/auth/oauth/{name}/callback"


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
    return await _signed_in(request, user, next_url)


def _oauth_error(request: Request, message: str) -> Response:
    return render_template(
        request, "auth/oauth_error.html.jinja", {"message": message}, status_code=400
    )
