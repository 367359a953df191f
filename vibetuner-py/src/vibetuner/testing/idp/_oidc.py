"""The OpenID Connect provider: oidc-provider-mock, served like our other local servers.

The mock (a Flask app built on authlib) does discovery, client registration, the authorization
code flow, RS256 ID tokens with nonce and at_hash, and userinfo. We add what tests need on
top: registered clients by default, a required nonce, users with chosen claims (an unverified
email among them), `next_identity` to skip its sign-in form once, PKCE (S256) and code
lifetimes (the mock checks neither), ID tokens signed under a published `kid`, and
`next_id_token` to issue a bad ID token once.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict, Unpack
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

from vibetuner.services.oauth._providers import DISCOVERY_PATH
from vibetuner.testing.idp._grants import NO_STORE, Preselection, pkce_matches
from vibetuner.testing.idp._id_tokens import Defect, IDTokenSigner
from vibetuner.testing.idp._server import BackgroundWSGIServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

AUTHORIZE_PATH = "/oauth2/authorize"
"""Where the mock's authorization endpoint lives (its discovery document names it too)."""
TOKEN_PATH = "/oauth2/token"  # noqa: S105 (a path, not a secret)
JWKS_PATH = "/jwks"


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


@dataclass(frozen=True)
class IssuedCode:
    """What the authorization request said about the code it produced."""

    code_challenge: str | None
    expires_at: float


class CodeLedger:
    """PKCE (RFC 7636, S256) and a lifetime for the mock's authorization codes."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._codes: dict[str, IssuedCode] = {}
        self._lock = threading.Lock()

    def record(self, code: str, challenge: str | None) -> None:
        with self._lock:
            self._codes[code] = IssuedCode(challenge, time.time() + self.ttl)

    def refusal(self, code: str, verifier: str | None) -> str | None:
        """Why the exchange of `code` must fail, or None (the mock then checks the rest)."""
        with self._lock:
            issued = self._codes.get(code)
        if issued is None:
            return None  # unknown or spent: the mock says invalid_grant
        if time.time() >= issued.expires_at:
            return "The authorization code has expired."
        if issued.code_challenge is None:
            # RFC 9700 2.1.1: a verifier without a challenge is a PKCE downgrade attempt.
            return "A code_verifier was sent, but no code_challenge was." if verifier else None
        if not verifier or not pkce_matches(verifier, issued.code_challenge):
            return "The code_verifier does not match the code_challenge."
        return None

    def spend(self, code: str) -> None:
        with self._lock:
            self._codes.pop(code, None)


@dataclass
class Captured:
    """A whole WSGI response, so we can rewrite it before it leaves."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def send(self, start_response: StartResponse) -> Iterable[bytes]:
        headers = [(k, v) for k, v in self.headers if k.lower() != "content-length"]
        start_response(self.status, [*headers, ("Content-Length", str(len(self.body)))])
        return [self.body]


def _capture(app: WSGIApplication, environ: WSGIEnvironment) -> Captured:
    """Run the mock to the end, keeping its answer instead of sending it."""
    chunks: list[bytes] = []
    answer = Captured("500 INTERNAL SERVER ERROR", [], b"")

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer.status, answer.headers = status, list(headers)
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    answer.body = b"".join(chunks)
    return answer


def _json(status: str, document: object, headers: Iterable[tuple[str, str]] = ()) -> Captured:
    """An answer of our own, in the JSON the mock's endpoints speak."""
    body = json.dumps(document).encode()
    return Captured(status, [("Content-Type", "application/json"), *headers], body)


def _with_query(location: str, drop: str, add: dict[str, str]) -> str:
    """Turn the mock's redirect with a code into one with an error (state and all kept)."""
    parts = urlsplit(location)
    query = [(k, v) for k, vs in parse_qs(parts.query).items() for v in vs if k != drop]
    return urlunsplit(parts._replace(query=urlencode([*query, *add.items()])))


class LocalOIDCProvider(BackgroundWSGIServer):
    """An OIDC provider on http://127.0.0.1:<free port>; use it as a (async) context manager.

    `require_pkce` refuses authorization requests without an S256 `code_challenge`; a
    challenge that was sent is always checked. Codes expire `code_ttl` seconds after issue.
    """

    def __init__(
        self, *, port: int | None = None, require_pkce: bool = False, code_ttl: float = 60.0
    ) -> None:
        self.provider = _mock_app()
        self.require_pkce = require_pkce
        self.codes = CodeLedger(code_ttl)
        self.signer = IDTokenSigner()
        self._next: Preselection[str] = Preselection()
        self._defects: Preselection[Defect] = Preselection()
        self._published_issuer: str | None = None
        super().__init__(self._serve, port=port)

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}{DISCOVERY_PATH}"

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

    def next_id_token(self, defect: Defect) -> None:
        """Spoil the next ID token the token endpoint issues (see `Defect` for the kinds)."""
        self._defects.push(defect)

    def publish_issuer(self, issuer: str) -> None:
        """Name `issuer` in the discovery document from now on, not this provider's URL (a
        configuration that is someone else's)."""
        self._published_issuer = issuer

    def _call(self, method: str, path: str, body: object) -> Any:
        """Use the mock's own HTTP API in process (Flask's test client), started or not."""
        response = self.provider.test_client().open(path, method=method, json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} failed: {response.get_data(as_text=True)}")
        return response.get_json(silent=True)

    def _serve(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The mock, with our additions on the endpoints they concern."""
        path, method = environ.get("PATH_INFO"), environ["REQUEST_METHOD"]
        if path == AUTHORIZE_PATH:
            return self._authorize(environ).send(start_response)
        if path == TOKEN_PATH and method == "POST":
            return self._token(environ).send(start_response)
        if path == JWKS_PATH and method == "GET":
            return _json("200 OK", self.signer.jwks()).send(start_response)
        if path == DISCOVERY_PATH and method == "GET":
            answer = _capture(self.provider, environ)
            document = json.loads(answer.body)
            document["code_challenge_methods_supported"] = ["S256"]
            if self._published_issuer is not None:
                document["issuer"] = self._published_issuer
            return _json(answer.status, document).send(start_response)
        return self.provider(environ, start_response)

    def _authorize(self, environ: WSGIEnvironment) -> Captured:
        """The mock's answer; a code it grants is refused without PKCE, or else recorded."""
        if environ["REQUEST_METHOD"] == "GET":
            sub = self._next.take()
            if sub is not None:  # a queued user: the GET of the form becomes that user's POST
                form = urlencode({"sub": sub}).encode()
                environ = {
                    **environ,
                    "REQUEST_METHOD": "POST",
                    "CONTENT_TYPE": "application/x-www-form-urlencoded",
                    "CONTENT_LENGTH": str(len(form)),
                    "wsgi.input": io.BytesIO(form),
                }
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        answer = _capture(self.provider, environ)
        location = answer.header("Location")
        code = _query_of(location).get("code") if location else None
        if location is None or code is None:
            return answer
        challenge = query.get("code_challenge")
        method = query.get("code_challenge_method", "plain")
        problem = None
        if challenge is None and self.require_pkce:
            problem = "code_challenge is required (PKCE, S256)."
        elif challenge is not None and method != "S256":
            problem = "Only the S256 code_challenge_method is supported."
        if problem is None:
            self.codes.record(code, challenge)
            return answer
        error = {"error": "invalid_request", "error_description": problem}
        rewritten = _with_query(location, "code", error)
        answer.headers = [
            (k, rewritten if k.lower() == "location" else v) for k, v in answer.headers
        ]
        return answer

    def _token(self, environ: WSGIEnvironment) -> Captured:
        """Check PKCE and the code's age, let the mock answer, then sign its ID token."""
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ = {**environ, "wsgi.input": io.BytesIO(body)}
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        code = form.get("code") if form.get("grant_type") == "authorization_code" else None
        if code is not None:
            problem = self.codes.refusal(code, form.get("code_verifier"))
            if problem is not None:
                error = {"error": "invalid_grant", "error_description": problem}
                return _json("400 BAD REQUEST", error, NO_STORE.items())
        answer = _capture(self.provider, environ)
        if not answer.status.startswith("200"):
            return answer
        if code is not None:
            self.codes.spend(code)
        document = json.loads(answer.body)
        if isinstance(document.get("id_token"), str):
            document["id_token"] = self.signer.reissue(document["id_token"], self._defects.take())
            answer.body = json.dumps(document).encode()
        return answer


def _query_of(url: str) -> dict[str, str]:
    """The first value of each query parameter."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
