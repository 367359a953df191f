"""OAuth 2.0 pieces of the GitHub look-alike, and the queue of users both servers sign in next."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse

T = TypeVar("T")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


@dataclass(frozen=True)
class Client:
    """A registered client application and the redirect URIs it may use."""

    client_id: str
    secret: str
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True)
class Grant:
    """What the user approved at the authorization endpoint, waiting for its code's exchange."""

    client_id: str
    redirect_uri: str
    scope: str
    subject: Any
    code_challenge: str | None = None
    expires_at: float = 0.0


@dataclass(frozen=True)
class AccessToken:
    """An issued bearer token and whom it speaks for."""

    subject: Any
    scope: str
    client_id: str
    expires_at: float


@dataclass
class GrantStore:
    """Codes are single use and short lived; replaying one revokes the tokens it produced."""

    code_ttl: float = 60.0
    token_ttl: float = 3600.0
    _codes: dict[str, Grant] = field(default_factory=dict)
    _spent: dict[str, list[str]] = field(default_factory=dict)
    _tokens: dict[str, AccessToken] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue_code(self, grant: Grant) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = replace(grant, expires_at=time.time() + self.code_ttl)
        return code

    def redeem(self, code: str) -> Grant | None:
        """Return the code's grant once; on a replay, revoke what it issued (RFC 6749 4.1.2)."""
        with self._lock:
            if code in self._spent:
                for token in self._spent[code]:
                    self._tokens.pop(token, None)
                return None
            grant = self._codes.pop(code, None)
            if grant is None:
                return None
            self._spent[code] = []
        return grant if grant.expires_at > time.time() else None

    def issue_token(self, code: str, grant: Grant, prefix: str = "") -> str:
        token = prefix + secrets.token_urlsafe(30)
        with self._lock:
            self._tokens[token] = AccessToken(
                grant.subject, grant.scope, grant.client_id, time.time() + self.token_ttl
            )
            self._spent.setdefault(code, []).append(token)
        return token

    def lookup(self, token: str) -> AccessToken | None:
        with self._lock:
            found = self._tokens.get(token)
        return found if found is not None and found.expires_at > time.time() else None


class Preselection(Generic[T]):
    """Identities queued by a test: each one answers the next authorization request."""

    def __init__(self) -> None:
        self._queue: deque[T] = deque()
        self._lock = threading.Lock()

    def push(self, item: T) -> None:
        with self._lock:
            self._queue.append(item)

    def take(self) -> T | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None


def pkce_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) must equal the challenge."""
    if not _VERIFIER.match(verifier):
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(computed, challenge)


def client_credentials(request: Request, form: Mapping[str, Any]) -> tuple[str, str] | None:
    """Read client_secret_basic (RFC 6749 2.3.1, form-encoded parts) or client_secret_post."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        client_id, sep, secret = decoded.partition(":")
        return (unquote_plus(client_id), unquote_plus(secret)) if sep else None
    if form.get("client_id"):
        return str(form["client_id"]), str(form.get("client_secret", ""))
    return None


def authenticate(clients: Mapping[str, Client], creds: tuple[str, str] | None) -> Client | None:
    """The client whose id and secret both match, compared in constant time."""
    if creds is None or creds[0] not in clients:
        return None
    client = clients[creds[0]]
    return client if hmac.compare_digest(client.secret, creds[1]) else None


def redirect_with(uri: str, params: Mapping[str, str | None]) -> RedirectResponse:
    """Redirect to `uri` with `params` added to whatever query it already has."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(key, value) for key, value in params.items() if value is not None]
    return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), status_code=302)


def bearer_token(request: Request, schemes: tuple[str, ...] = ("bearer",)) -> str | None:
    """The token from `Authorization: <scheme> <token>`, if the scheme is accepted."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() in schemes else None


def param(params: QueryParams | FormData, key: str) -> str | None:
    """A non-empty string parameter from a query string or form, else None."""
    value = params.get(key)
    return value if isinstance(value, str) and value else None
