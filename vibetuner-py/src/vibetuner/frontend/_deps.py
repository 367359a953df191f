"""Who is asking: `current_user` and `require_user` for routes and templates."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends
from fastapi.openapi.models import APIKey
from fastapi.security.base import SecurityBase
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from vibetuner.frontend._htmx import htmx
from vibetuner.frontend._redirects import safe_next
from vibetuner.i18n import _
from vibetuner.services.sessions import ANONYMOUS, AnonymousUser, SessionUser

LOGIN_PATH = "/auth/login"
SCHEME = "session"
SESSION_COOKIE = "vt_session"  # as documented; SESSION_COOKIE in settings can rename it


class LoginRequired(Exception):
    """Raised where a signed-in user is needed; answered with a redirect to the login page."""

    def __init__(self, next_url: str = "/") -> None:
        super().__init__(next_url)
        self.next_url = next_url


def user_of(conn: HTTPConnection) -> SessionUser | AnonymousUser:
    user = conn.scope.get("user", ANONYMOUS)
    return user if isinstance(user, SessionUser | AnonymousUser) else ANONYMOUS


# Dependencies are `async def` on purpose: FastAPI runs sync ones in a worker thread.


async def current_user(request: Request) -> SessionUser | None:
    """FastAPI dependency: the signed-in user, or None."""
    user = user_of(request)
    return user if isinstance(user, SessionUser) else None


class UserRequired(SecurityBase):
    """FastAPI dependency: the signed-in user (holding `role`, if given); others are sent to
    sign in first. It is a security scheme, so OpenAPI marks the routes that use it, and
    their 303 (pages) and 401 (htmx) answers are declared (see `openapi.py`)."""

    def __init__(self, role: str | None = None) -> None:
        self.model = APIKey.model_validate(
            {"in": "cookie", "name": SESSION_COOKIE, "description": "Set by signing in."}
        )
        self.scheme_name = SCHEME
        self.role = role

    async def __call__(self, request: Request) -> SessionUser:
        user = signed_in_user(request)
        if self.role is not None and self.role not in user.roles:
            raise HTTPException(403, _("You do not have access to this page."))
        return user


require_user = UserRequired()

SignedIn = Annotated[SessionUser, Depends(require_user)]
"""A route parameter for the signed-in user: `async def page(user: SignedIn)`."""


def require_role(role: str) -> UserRequired:
    """FastAPI dependency: a signed-in user holding `role`; 403 for others who are signed in."""
    return UserRequired(role)


def signed_in_user(conn: Request) -> SessionUser:
    """The signed-in user, or LoginRequired (answered with a redirect to sign in)."""
    user = user_of(conn)
    if isinstance(user, SessionUser):
        return user
    raise LoginRequired(_here(conn))


def _here(request: Request) -> str:
    """Where the visitor is, to come back after signing in; a language prefix is kept."""
    details = htmx(request)
    if details and details.current_url:
        parts = urlsplit(details.current_url)
        return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))
    query = request.url.query
    here = request.scope.get("locale_prefix", "") + request.url.path
    return safe_next(here + (f"?{query}" if query else ""))


def login_redirect(request: Request, next_url: str) -> Response:
    """Pages get a 303 to the login page (in the same language prefix, if any); htmx
    requests get 401 with HX-Redirect, and clients that ask for JSON but not HTML (APIs,
    scripts) a 401 that says why."""
    prefix = request.scope.get("locale_prefix", "")
    back = quote(safe_next(next_url), safe="/")
    target = safe_next(f"{prefix}{LOGIN_PATH}?next={back}", LOGIN_PATH)  # checked last
    if htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        detail = _("Sign in first: this needs a signed-in user.")
        return JSONResponse({"detail": detail}, status_code=401, headers={"Location": target})
    return RedirectResponse(target, status_code=303)
