"""A real OpenID Connect provider (authorization code flow, PKCE S256, RS256 ID tokens).

It follows OIDC Core and RFC 6749/7636 closely enough that authlib's own client accepts it,
and strictly enough that a relying party forgetting state, nonce or PKCE fails its tests.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vibetuner.testing_idp import _pages
from vibetuner.testing_idp._grants import (
    NO_STORE,
    Client,
    Grant,
    GrantStore,
    Preselection,
    authenticate,
    bearer_token,
    client_credentials,
    oauth_error,
    param,
    pkce_matches,
    redirect_with,
)
from vibetuner.testing_idp._keys import ALGORITHM, SigningKey, at_hash
from vibetuner.testing_idp._server import BackgroundServer

SCOPE_CLAIMS = {"email": ("email", "email_verified"), "profile": ("name", "picture")}
SCOPES = ("openid", "email", "profile")
ID_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash")
CLAIMS = (*ID_CLAIMS, *SCOPE_CLAIMS["email"], *SCOPE_CLAIMS["profile"])


@dataclass(frozen=True)
class Identity:
    """The end user a test signs in as; `sub` is stable per email unless given."""

    sub: str
    email: str
    email_verified: bool = True
    name: str | None = None
    picture: str | None = None


class LocalOIDCProvider(BackgroundServer):
    """An OIDC provider on http://127.0.0.1:<free port>; use it as a (async) context manager."""

    def __init__(
        self,
        clients: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        port: int | None = None,
        code_ttl: float = 60.0,
        token_ttl: float = 3600.0,
        strict: bool = True,
    ) -> None:
        self.clients: dict[str, Client] = {}
        self.grants = GrantStore(code_ttl=code_ttl, token_ttl=token_ttl)
        self.key = SigningKey()
        self.strict = strict
        self._next: Preselection[Identity] = Preselection()
        for client_id, spec in (clients or {}).items():
            self.add_client(client_id, spec["secret"], spec["redirect_uris"])
        super().__init__(self._app(), port=port)

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def add_client(self, client_id: str, secret: str, redirect_uris: Iterable[str]) -> None:
        """Register a relying party; its redirect URIs must then match exactly."""
        self.clients[client_id] = Client(client_id, secret, tuple(redirect_uris))

    def next_identity(
        self,
        *,
        email: str,
        email_verified: bool = True,
        name: str | None = None,
        sub: str | None = None,
        picture: str | None = None,
    ) -> Identity:
        """Answer the next GET /authorize with a code for this user, skipping the form."""
        identity = self.identity(email, email_verified, name, sub, picture)
        self._next.push(identity)
        return identity

    def identity(
        self,
        email: str,
        email_verified: bool = True,
        name: str | None = None,
        sub: str | None = None,
        picture: str | None = None,
    ) -> Identity:
        """Fill in the defaults a real provider would: a stable subject and an avatar."""
        sub = sub or hashlib.sha256(email.strip().lower().encode()).hexdigest()[:24]
        picture = picture or f"{self.issuer}/avatar/{sub}.svg"
        return Identity(sub, email, email_verified, name, picture)

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/authorize", self._authorize, methods=["GET", "POST"]),
                Route("/token", self._token, methods=["POST"]),
                Route("/userinfo", self._userinfo, methods=["GET", "POST"]),
                Route("/jwks", self._jwks),
                Route("/avatar/{sub}.svg", self._avatar),
            ]
        )

    async def _discovery(self, request: Request) -> Response:
        base = self.issuer
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "userinfo_endpoint": f"{base}/userinfo",
                "jwks_uri": f"{base}/jwks",
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [ALGORITHM],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": list(SCOPES),
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "claims_supported": list(CLAIMS),
            }
        )

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse(self.key.jwks(), headers={"Cache-Control": "max-age=60"})

    async def _avatar(self, request: Request) -> Response:
        svg = '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>'
        return Response(svg, media_type="image/svg+xml")

    async def _authorize(self, request: Request) -> Response:
        params = request.query_params if request.method == "GET" else await request.form()
        client = self.clients.get(param(params, "client_id") or "")
        redirect_uri = param(params, "redirect_uri")
        if client is None:
            return _pages.error_page("Unknown client_id.")
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            return _pages.error_page("redirect_uri is not registered for this client.")
        state = param(params, "state")
        problem = self._request_problem(params)
        if problem is not None:
            error, description = problem
            return redirect_with(
                redirect_uri, {"error": error, "error_description": description, "state": state}
            )
        if request.method == "GET":
            identity = self._next.take()
            if identity is None:
                return self._form(params)
        elif param(params, "decision") == _pages.DENY:
            return redirect_with(
                redirect_uri,
                {"error": "access_denied", "error_description": "The user denied access.",
                 "state": state},
            )  # fmt: skip
        else:
            email = param(params, "email")
            if email is None:
                return _pages.error_page("An email address is required to sign in.")
            verified = param(params, "email_verified") is not None
            identity = self.identity(email, verified, param(params, "name"))
        grant = Grant(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=param(params, "scope") or "",
            subject=identity,
            nonce=param(params, "nonce"),
            code_challenge=param(params, "code_challenge"),
        )
        return redirect_with(redirect_uri, {"code": self.grants.issue_code(grant), "state": state})

    def _request_problem(self, params: QueryParams | FormData) -> tuple[str, str] | None:
        """The RFC 6749 4.1.2.1 error to send back to a trusted redirect URI, if any."""
        if param(params, "response_type") != "code":
            return "unsupported_response_type", "Only response_type=code is supported."
        if "openid" not in (param(params, "scope") or "").split():
            return "invalid_scope", "The scope must include openid."
        challenge = param(params, "code_challenge")
        if challenge is not None and param(params, "code_challenge_method") != "S256":
            return "invalid_request", "Only code_challenge_method=S256 is supported."
        if self.strict:
            for name in ("state", "nonce", "code_challenge"):
                if param(params, name) is None:
                    return "invalid_request", f"The {name} parameter is required."
        return None

    def _form(self, params: QueryParams | FormData) -> Response:
        hidden = {key: value for key, value in params.items() if isinstance(value, str)}
        return _pages.sign_in_page(
            title="Sign in to the local OpenID provider",
            action="/authorize",
            hidden=hidden,
            fields=[
                _pages.Field("email", "Email", param(params, "login_hint") or "", kind="email"),
                _pages.Field("name", "Name"),
                _pages.Field("email_verified", "Email verified", kind="checkbox", checked=True),
            ],
        )

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        client = authenticate(self.clients, client_credentials(request, form))
        if client is None:
            return oauth_error("invalid_client", "Client authentication failed.", 401)
        if param(form, "grant_type") != "authorization_code":
            return oauth_error("unsupported_grant_type", "Only authorization_code is supported.")
        code = param(form, "code")
        grant = self.grants.redeem(code) if code else None
        if code is None or grant is None or grant.client_id != client.client_id:
            return oauth_error("invalid_grant", "The code is invalid, expired or already used.")
        if param(form, "redirect_uri") != grant.redirect_uri:
            return oauth_error("invalid_grant", "redirect_uri does not match the request.")
        verifier = param(form, "code_verifier")
        if grant.code_challenge and not (verifier and pkce_matches(verifier, grant.code_challenge)):
            return oauth_error("invalid_grant", "The PKCE code_verifier does not match.")
        access_token = self.grants.issue_token(code, grant)
        body = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": int(self.grants.token_ttl),
            "scope": grant.scope,
            "id_token": self._id_token(grant, client, access_token),
        }
        return JSONResponse(body, headers=NO_STORE)

    def _id_token(self, grant: Grant, client: Client, access_token: str) -> str:
        now = int(time.time())
        identity: Identity = grant.subject
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": identity.sub,
            "aud": client.client_id,
            "iat": now,
            "auth_time": now,
            "exp": now + int(self.grants.token_ttl),
            "at_hash": at_hash(access_token),
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        return self.key.sign({**claims, **_scoped_claims(identity, grant.scope)})

    async def _userinfo(self, request: Request) -> Response:
        token = bearer_token(request)
        found = self.grants.lookup(token) if token else None
        if found is None:
            challenge = 'Bearer error="invalid_token"'
            return JSONResponse(
                {"error": "invalid_token"}, 401, headers={"WWW-Authenticate": challenge}
            )
        identity: Identity = found.subject
        return JSONResponse({"sub": identity.sub, **_scoped_claims(identity, found.scope)})


def _scoped_claims(identity: Identity, scope: str) -> dict[str, Any]:
    """OIDC Core 5.4: the email and profile scopes each release their own claims."""
    claims: dict[str, Any] = {}
    for granted in scope.split():
        for name in SCOPE_CLAIMS.get(granted, ()):
            value = getattr(identity, name)
            if value is not None:
                claims[name] = value
    return claims
