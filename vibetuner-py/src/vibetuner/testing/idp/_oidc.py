"""The OpenID Connect provider: oidc-provider-mock, served like our other local servers.

The mock (a Flask app built on authlib) does discovery, client registration, the authorization
code flow, RS256 ID tokens with nonce and at_hash, and userinfo. We add only what tests need
on top: registered clients by default, a required nonce, users with chosen claims (an
unverified email among them), and `next_identity` to skip its sign-in form once.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict, Unpack
from urllib.parse import quote, urlencode

from vibetuner.testing.idp._grants import Preselection
from vibetuner.testing.idp._server import BackgroundWSGIServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from flask import Flask

AUTHORIZE_PATH = "/oauth2/authorize"
"""Where the mock's authorization endpoint lives (its discovery document names it too)."""


class Person(TypedDict):
    """Who to add: `sub` defaults to a hash of the email, `email_verified` to True."""

    email: str
    email_verified: NotRequired[bool]
    name: NotRequired[str | None]
    sub: NotRequired[str | None]
    picture: NotRequired[str | None]


@dataclass(frozen=True)
class Identity:
    """The end user a test signs in as; `sub` is stable per email unless given."""

    sub: str
    email: str
    email_verified: bool = True
    name: str | None = None
    picture: str | None = None

    @property
    def claims(self) -> dict[str, object]:
        """What the provider releases besides `sub` (per scope: email, profile)."""
        optional = {"name": self.name, "picture": self.picture}
        chosen = {key: value for key, value in optional.items() if value is not None}
        return {"email": self.email, "email_verified": self.email_verified, **chosen}


@dataclass(frozen=True)
class Client:
    """A relying party the provider registered; it chose the id and the secret."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


def _mock_app() -> Flask:
    """A fresh provider that knows only registered clients and refuses a missing nonce."""
    with warnings.catch_warnings():
        # The mock imports authlib.jose, which authlib 1.9 deprecates in favour of joserfc.
        warnings.simplefilter("ignore", DeprecationWarning)
        import oidc_provider_mock  # testing extra

    app: Flask = oidc_provider_mock.app(require_client_registration=True, require_nonce=True)
    return app


class LocalOIDCProvider(BackgroundWSGIServer):
    """An OIDC provider on http://127.0.0.1:<free port>; use it as a (async) context manager."""

    def __init__(self, *, port: int | None = None) -> None:
        self.provider = _mock_app()
        self._next: Preselection[str] = Preselection()
        super().__init__(self._answer_next, port=port)

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def register_client(
        self,
        redirect_uris: Iterable[str],
        *,
        auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic",
    ) -> Client:
        """Register a relying party (RFC 7591); its redirect URIs must then match exactly."""
        body = {"redirect_uris": list(redirect_uris), "token_endpoint_auth_method": auth_method}
        answer = self._call("POST", "/oauth2/clients", body)
        return Client(answer["client_id"], answer["client_secret"], tuple(answer["redirect_uris"]))

    def add_user(self, **person: Unpack[Person]) -> Identity:
        """Create (or replace) the user whose `sub` the sign-in form then accepts."""
        email = person["email"]
        sub = person.get("sub") or hashlib.sha256(email.strip().lower().encode()).hexdigest()[:24]
        verified = person.get("email_verified", True)
        identity = Identity(sub, email, verified, person.get("name"), person.get("picture"))
        self._call("PUT", f"/users/{quote(sub, safe='')}", identity.claims)
        return identity

    def next_identity(self, **person: Unpack[Person]) -> Identity:
        """Answer the next GET of the authorization endpoint as this user, skipping the form."""
        identity = self.add_user(**person)
        self._next.push(identity.sub)
        return identity

    def _call(self, method: str, path: str, body: object) -> Any:
        """Use the mock's own HTTP API in process (Flask's test client), started or not."""
        response = self.provider.test_client().open(path, method=method, json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} failed: {response.get_data(as_text=True)}")
        return response.get_json(silent=True)

    def _answer_next(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """The mock, but a GET of its form with a queued user becomes that user's POST."""
        if environ["REQUEST_METHOD"] == "GET" and environ.get("PATH_INFO") == AUTHORIZE_PATH:
            sub = self._next.take()
            if sub is not None:
                form = urlencode({"sub": sub}).encode()
                environ = {
                    **environ,
                    "REQUEST_METHOD": "POST",
                    "CONTENT_TYPE": "application/x-www-form-urlencoded",
                    "CONTENT_LENGTH": str(len(form)),
                    "wsgi.input": io.BytesIO(form),
                }
        return self.provider(environ, start_response)
