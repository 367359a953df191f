"""Who is asking: `current_user` and `require_user` for routes and templates."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response

from vibetuner.frontend.htmx import htmx
from vibetuner.frontend.redirects import safe_next
from vibetuner.frontend.sessions import ANONYMOUS, AnonymousUser, SessionUser

LOGIN_PATH = "/auth/login"


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


async def require_user(request: Request) -> SessionUser:
    """FastAPI dependency: the signed-in user; others are sent to sign in first."""
    return signed_in_user(request)


def signed_in_user(conn: Request) -> SessionUser:
    """The signed-in user, or LoginRequired (answered with a redirect to sign in)."""
    user = user_of(conn)
    if isinstance(user, SessionUser):
        return user
    raise LoginRequired(_here(conn))


def require_role(role: str):  # type: ignore[no-untyped-def]
    """FastAPI dependency factory: a signed-in user holding `role`, else 403."""

    async def dependency(request: Request) -> SessionUser:
        user = signed_in_user(request)
        if role not in user.roles:
            from starlette.exceptions import HTTPException

            from vibetuner.i18n import _

            raise HTTPException(403, _("You do not have access to this page."))
        return user

    return dependency


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
    requests get 401 with HX-Redirect."""
    prefix = request.scope.get("locale_prefix", "")
    target = f"{prefix}{LOGIN_PATH}?next={quote(safe_next(next_url), safe='/')}"
    if htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
