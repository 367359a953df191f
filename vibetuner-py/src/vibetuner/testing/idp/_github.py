"""A GitHub look-alike: the OAuth app web flow and the two REST endpoints sign-in uses.

Shapes follow GitHub's docs: the web flow lives at /login/oauth/*, the API at /api/v3 (as on
GitHub Enterprise Server). Token errors come back with status 200 and an `error` field,
/user's `email` is the public email (often null), and /user/emails needs the user:email scope.
Its sign-in form is plain escaped HTML that a real browser (Playwright) fills by field name.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.applications import Starlette
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from vibetuner.testing.idp._grants import (
    NO_STORE,
    Client,
    Grant,
    GrantStore,
    Preselection,
    authenticate,
    bearer_token,
    client_credentials,
    param,
    pkce_matches,
    redirect_with,
)
from vibetuner.testing.idp._server import BackgroundServer

DOCS = "https://docs.github.com/rest"
EMAIL_SCOPES = frozenset({"user", "user:email"})
ALLOW = "allow"
DENY = "deny"

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title></head>
<body>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"""


@dataclass(frozen=True)
class GitHubEmail:
    """One row of GET /user/emails; GitHub sets `visibility` on the primary address only."""

    email: str
    primary: bool = False
    verified: bool = True
    visibility: str | None = None


@dataclass(frozen=True)
class GitHubUser:
    """An account: /user shows the primary email only when its visibility is public."""

    login: str
    id: int
    name: str | None
    emails: tuple[GitHubEmail, ...] = field(default_factory=tuple)

    @property
    def public_email(self) -> str | None:
        return next((e.email for e in self.emails if e.visibility == "public"), None)


class LocalGitHub(BackgroundServer):
    """GitHub's OAuth web flow at `.url` and its REST API at `.api_url`."""

    def __init__(
        self,
        clients: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        port: int | None = None,
        code_ttl: float = 600.0,
    ) -> None:
        self.clients: dict[str, Client] = {}
        self.users: dict[str, GitHubUser] = {}
        self.grants = GrantStore(code_ttl=code_ttl, token_ttl=8 * 3600)
        self._ids = itertools.count(1001)
        self._next: Preselection[GitHubUser] = Preselection()
        self._garbled: dict[str, str] = {}
        for client_id, spec in (clients or {}).items():
            self.add_client(client_id, spec["secret"], spec["redirect_uris"])
        super().__init__(self._app(), port=port)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v3"

    @property
    def authorize_url(self) -> str:
        return f"{self.url}/login/oauth/authorize"

    @property
    def access_token_url(self) -> str:
        return f"{self.url}/login/oauth/access_token"

    def add_client(self, client_id: str, secret: str, redirect_uris: Iterable[str]) -> None:
        """Register an OAuth app; a redirect_uri may be any path under a callback URL."""
        self.clients[client_id] = Client(client_id, secret, tuple(redirect_uris))

    def add_user(
        self,
        login: str,
        *,
        name: str | None = None,
        emails: Sequence[GitHubEmail] | None = None,
        email: str | None = None,
        verified: bool = True,
        public: bool = False,
    ) -> GitHubUser:
        """Create (or replace) an account; `email` is shorthand for one primary address."""
        if emails is None:
            address = email or f"{login}@users.example.test"
            visibility = "public" if public else "private"
            emails = [GitHubEmail(address, primary=True, verified=verified, visibility=visibility)]
        previous = self.users.get(login)
        user_id = previous.id if previous else next(self._ids)
        user = GitHubUser(login, user_id, name, tuple(emails))
        self.users[login] = user
        return user

    def next_identity(self, login: str, **account: Any) -> GitHubUser:
        """Answer the next authorize request as `login` (created from `account` if new)."""
        user = self.users.get(login) if not account else None
        user = user or self.add_user(login, **account)
        self._next.push(user)
        return user

    def garble_next(self, endpoint: str, body: str) -> None:
        """Answer the next call to `endpoint` ("user" or "emails") with `body` as it is, 200,
        as a broken or changed API might, so sign-in's handling of it can be tested."""
        self._garbled[endpoint] = body

    def _garbled_reply(self, endpoint: str) -> Response | None:
        body = self._garbled.pop(endpoint, None)
        return None if body is None else Response(body, media_type="application/json")

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/login/oauth/authorize", self._authorize, methods=["GET", "POST"]),
                Route("/login/oauth/access_token", self._access_token, methods=["POST"]),
                Route("/api/v3/user", self._user),
                Route("/api/v3/user/emails", self._emails),
                Route("/avatars/{login}.svg", self._avatar),
            ]
        )

    def _redirect_allowed(self, client: Client, redirect_uri: str) -> bool:
        """GitHub's rule: same scheme, host and port as a callback URL, path at or below it."""
        target = urlsplit(redirect_uri)
        for callback in map(urlsplit, client.redirect_uris):
            same_origin = (target.scheme, target.netloc) == (callback.scheme, callback.netloc)
            base = callback.path.rstrip("/")
            if same_origin and (target.path == callback.path or target.path.startswith(base + "/")):
                return True
        return False

    async def _authorize(self, request: Request) -> Response:
        params = request.query_params if request.method == "GET" else await request.form()
        client = self.clients.get(param(params, "client_id") or "")
        if client is None:
            return _error_page("The client_id does not belong to any OAuth app.", 404)
        redirect_uri = param(params, "redirect_uri") or client.redirect_uris[0]
        if not self._redirect_allowed(client, redirect_uri):
            return _error_page("The redirect_uri is not associated with this application.")
        state = param(params, "state")
        challenge = param(params, "code_challenge")
        if challenge is not None and param(params, "code_challenge_method") != "S256":
            return redirect_with(
                redirect_uri,
                {"error": "invalid_request", "error_description": "Only S256 is supported.",
                 "state": state},
            )  # fmt: skip
        if request.method == "GET":
            user = self._next.take()
            if user is None:
                return self._form(params)
        elif param(params, "decision") == DENY:
            return redirect_with(
                redirect_uri,
                {"error": "access_denied",
                 "error_description": "The user has denied your application access.",
                 "error_uri": f"{DOCS}/oauth-apps", "state": state},
            )  # fmt: skip
        else:
            user = self._user_from_form(params)
            if user is None:
                return _error_page("A login is required to sign in.")
        grant = Grant(
            client_id=client.client_id,
            redirect_uri=param(params, "redirect_uri") or "",
            scope=param(params, "scope") or "",
            subject=user,
            code_challenge=challenge,
        )
        return redirect_with(redirect_uri, {"code": self.grants.issue_code(grant), "state": state})

    def _user_from_form(self, params: QueryParams | FormData) -> GitHubUser | None:
        login = param(params, "login")
        if login is None:
            return None
        if login in self.users:
            return self.users[login]
        verified = param(params, "email_verified") is not None
        return self.add_user(
            login, name=param(params, "name"), email=param(params, "email"), verified=verified
        )

    def _form(self, params: QueryParams | FormData) -> Response:
        hidden = {key: value for key, value in params.items() if isinstance(value, str)}
        return _sign_in_page(
            title="Sign in to the local GitHub",
            action="/login/oauth/authorize",
            hidden=hidden,
            fields=[
                Field("login", "Username", param(params, "login") or ""),
                Field("name", "Name"),
                Field("email", "Email", kind="email"),
                Field("email_verified", "Email verified", kind="checkbox", checked=True),
            ],
        )

    async def _access_token(self, request: Request) -> Response:
        form = await request.form()
        client = authenticate(self.clients, client_credentials(request, form))
        if client is None:
            return _token_reply(request, _error("incorrect_client_credentials"))
        code = param(form, "code")
        grant = self.grants.redeem(code) if code else None
        if code is None or grant is None or grant.client_id != client.client_id:
            return _token_reply(request, _error("bad_verification_code"))
        sent_uri = param(form, "redirect_uri")
        if grant.redirect_uri and sent_uri is not None and sent_uri != grant.redirect_uri:
            return _token_reply(request, _error("redirect_uri_mismatch"))
        verifier = param(form, "code_verifier")
        if grant.code_challenge and not (verifier and pkce_matches(verifier, grant.code_challenge)):
            return _token_reply(request, _error("bad_verification_code"))
        token = self.grants.issue_token(code, grant, prefix="gho_")
        scope = ",".join(grant.scope.replace(",", " ").split())
        body = {"access_token": token, "token_type": "bearer", "scope": scope}
        return _token_reply(request, body)

    def _account(self, request: Request) -> tuple[GitHubUser, set[str]] | Response:
        """The token's user and scopes, or GitHub's 401 body."""
        token = bearer_token(request, schemes=("bearer", "token"))
        if token is None:
            return _api_error("Requires authentication", 401)
        found = self.grants.lookup(token)
        if found is None:
            return _api_error("Bad credentials", 401)
        scopes = set(found.scope.replace(",", " ").split())
        return found.subject, scopes

    async def _user(self, request: Request) -> Response:
        account = self._account(request)
        if isinstance(account, Response):
            return account
        user, scopes = account
        if garbled := self._garbled_reply("user"):
            return garbled
        body = {
            "login": user.login,
            "id": user.id,
            "node_id": f"U_local{user.id}",
            "avatar_url": f"{self.url}/avatars/{user.login}.svg",
            "html_url": f"{self.url}/{user.login}",
            "url": f"{self.api_url}/users/{user.login}",
            "type": "User",
            "site_admin": False,
            "name": user.name,
            "email": user.public_email,
        }
        return _api_reply(body, scopes)

    async def _emails(self, request: Request) -> Response:
        account = self._account(request)
        if isinstance(account, Response):
            return account
        user, scopes = account
        if not scopes & EMAIL_SCOPES:
            return _api_error("Not Found", 404)
        if garbled := self._garbled_reply("emails"):
            return garbled
        rows = [
            {"email": e.email, "primary": e.primary, "verified": e.verified,
             "visibility": e.visibility}
            for e in user.emails
        ]  # fmt: skip
        return _api_reply(rows, scopes)

    async def _avatar(self, request: Request) -> Response:
        svg = '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>'
        return Response(svg, media_type="image/svg+xml")


def _error(code: str) -> dict[str, str]:
    return {"error": code, "error_description": code.replace("_", " ") + ".",
            "error_uri": f"{DOCS}/oauth-apps"}  # fmt: skip


def _token_reply(request: Request, body: Mapping[str, str]) -> Response:
    """JSON when the client accepts it, else form encoding, as GitHub does."""
    if "json" in request.headers.get("accept", ""):
        return JSONResponse(dict(body), headers=NO_STORE)
    return Response(urlencode(body), media_type="application/x-www-form-urlencoded")


def _api_error(message: str, status: int) -> Response:
    return JSONResponse({"message": message, "documentation_url": DOCS}, status_code=status)


def _api_reply(body: Any, scopes: set[str]) -> Response:
    return JSONResponse(body, headers={"X-OAuth-Scopes": ", ".join(sorted(scopes))})


@dataclass(frozen=True)
class Field:
    """One visible input of the sign-in form."""

    name: str
    label: str
    value: str = ""
    kind: str = "text"
    checked: bool = False


def _input(field: Field) -> str:
    name, label = escape(field.name), escape(field.label)
    if field.kind == "checkbox":
        checked = " checked" if field.checked else ""
        return (
            f'<p><label><input type="checkbox" name="{name}" value="true"{checked}> '
            f"{label}</label></p>"
        )
    return (
        f'<p><label for="{name}">{label}</label> '
        f'<input id="{name}" type="{escape(field.kind)}" name="{name}" '
        f'value="{escape(field.value)}"></p>'
    )


def _sign_in_page(
    *, title: str, action: str, hidden: Mapping[str, str], fields: Sequence[Field]
) -> HTMLResponse:
    """The consent form; hidden fields carry the authorization request to the POST."""
    carried = "\n".join(
        f'<input type="hidden" name="{escape(key)}" value="{escape(value)}">'
        for key, value in hidden.items()
    )
    inputs = "\n".join(_input(field) for field in fields)
    body = (
        f'<form method="post" action="{escape(action)}">\n{carried}\n{inputs}\n'
        f'<p><button type="submit" name="decision" value="{ALLOW}">Sign in</button> '
        f'<button type="submit" name="decision" value="{DENY}">Deny</button></p>\n</form>'
    )
    return HTMLResponse(_PAGE.format(title=escape(title), body=body))


def _error_page(message: str, status: int = 400) -> HTMLResponse:
    """Shown instead of redirecting when the redirect target itself cannot be trusted."""
    body = f'<p role="alert">{escape(message)}</p>'
    return HTMLResponse(_PAGE.format(title="Authorization error", body=body), status_code=status)
