"""The authorization-code dance, with state, nonce and PKCE kept in the server-side session."""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vibetuner.config import same_secret
from vibetuner.exceptions import ServiceUnavailable, VibetunerError
from vibetuner.i18n import _
from vibetuner.services.oauth._providers import DISCOVERY_PATH, Provider
from vibetuner.services.sessions import Session

FLOW_KEY = "_oauth"
FLOW_MAX_AGE = 600
METADATA_TTL = 3600
METADATA_KEYS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")

_metadata: dict[str, tuple[float, dict[str, Any]]] = {}
logger = logging.getLogger("vibetuner.oauth")


class OAuthFailed(VibetunerError):
    """The provider said no, or the answer could not be trusted: a friendly 400."""


def _failed(message: str, provider: Provider) -> OAuthFailed:
    """`message` names the provider as %(provider)s."""
    return OAuthFailed(message % {"provider": provider.title})


@contextlib.contextmanager
def _reaching(provider: Provider) -> Iterator[None]:
    """A provider we cannot reach is a 503 that says so (with Retry-After), never a 500."""
    import httpx  # httpx: loads on first OAuth sign-in

    try:
        yield
    except httpx.RequestError as exc:  # connection, timeout, protocol and decoding errors
        raise ServiceUnavailable(provider.title) from exc


@dataclass(frozen=True)
class Identity:
    provider: str
    subject: str
    email: str | None
    email_verified: bool
    name: str = ""
    avatar_url: str | None = None


async def _oidc_metadata(provider: Provider) -> dict[str, Any]:
    import httpx  # httpx: loads on first OAuth sign-in

    assert provider.metadata_url
    cached = _metadata.get(provider.metadata_url)
    if cached and time.monotonic() - cached[0] < METADATA_TTL:
        return cached[1]
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(provider.metadata_url)
    try:
        document: Any = response.json() if response.status_code == 200 else None
    except ValueError:
        document = None
    if not isinstance(document, dict) or not all(
        isinstance(document.get(key), str) for key in METADATA_KEYS
    ):
        raise _failed(_("%(provider)s did not publish its configuration."), provider)
    if provider.metadata_url != document["issuer"].rstrip("/") + DISCOVERY_PATH:
        # OpenID Connect Discovery 4.3: the issuer is the URL its configuration was read
        # under; any other is someone else's, whose ID tokens would then pass as this one's.
        logger.warning("%s published the issuer %r at %s", provider.name,
                       document["issuer"], provider.metadata_url)  # fmt: skip
        raise _failed(_("%(provider)s did not publish its configuration."), provider)
    _metadata[provider.metadata_url] = (time.monotonic(), document)
    return document


def _client(provider: Provider, redirect_uri: str) -> Any:
    with warnings.catch_warnings():
        # authlib 1.9 nudges towards `httpx2`; plain httpx still works and is what we ship.
        warnings.simplefilter("ignore", DeprecationWarning)
        from authlib.integrations.httpx_client import AsyncOAuth2Client  # authlib: on OAuth sign-in

    return AsyncOAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scope=" ".join(provider.scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=10,
    )


async def authorization_url(
    session: Session, provider: Provider, redirect_uri: str, next_url: str
) -> str:
    """Where to send the browser; the secrets it must bring back stay in the session."""
    from authlib.common.security import generate_token  # authlib: on OAuth sign-in

    state, nonce, verifier = (
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(32),
        generate_token(64),
    )
    if provider.kind == "oidc":
        with _reaching(provider):
            endpoint = (await _oidc_metadata(provider))["authorization_endpoint"]
    else:
        assert provider.authorize_url
        endpoint = provider.authorize_url
    async with _client(provider, redirect_uri) as client:
        extra = {"nonce": nonce} if provider.kind == "oidc" else {}
        url, _ = client.create_authorization_url(
            endpoint, state=state, code_verifier=verifier, **extra
        )
    session[FLOW_KEY] = {
        "provider": provider.name, "state": state, "nonce": nonce, "verifier": verifier,
        "next": next_url, "at": time.time(),
    }  # fmt: skip
    return str(url)


async def complete(
    session: Session, provider: Provider, redirect_uri: str, params: dict[str, str]
) -> tuple[Identity, str]:
    """Check the callback against the session, exchange the code, return who signed in."""
    flow = session.pop(FLOW_KEY, None)
    if not isinstance(flow, dict) or flow.get("provider") != provider.name:
        raise OAuthFailed(_("This sign-in attempt was not started here, or it has expired."))
    if time.time() - float(flow.get("at", 0)) > FLOW_MAX_AGE:
        raise OAuthFailed(_("This sign-in attempt took too long. Please try again."))
    if not params.get("state") or not same_secret(params["state"], flow["state"]):
        raise OAuthFailed(_("The sign-in answer did not match this attempt (state mismatch)."))
    if params.get("error"):
        denied = params["error"] == "access_denied"
        raise OAuthFailed(
            _("You cancelled signing in with %(provider)s.") % {"provider": provider.title}
            if denied
            else _("%(provider)s could not sign you in (%(error)s).")
            % {"provider": provider.title, "error": params["error"][:60]}
        )
    code = params.get("code")
    if not code:
        raise _failed(_("%(provider)s sent no authorization code."), provider)
    with _reaching(provider):
        if provider.kind == "oidc":
            identity = await _oidc_identity(provider, redirect_uri, code, flow)
        else:
            identity = await _github_identity(provider, redirect_uri, code, flow)
    return identity, str(flow.get("next") or "/")


async def _fetch_token(
    provider: Provider, redirect_uri: str, endpoint: str, code: str, verifier: str
) -> dict[str, Any]:
    from authlib.integrations.base_client.errors import OAuthError  # authlib: on OAuth sign-in

    async with _client(provider, redirect_uri) as client:
        try:
            token: dict[str, Any] = await client.fetch_token(
                endpoint, code=code, code_verifier=verifier, headers={"Accept": "application/json"}
            )
        except (OAuthError, ValueError) as exc:
            raise _failed(_("%(provider)s refused the sign-in code."), provider) from exc
    if "access_token" not in token:
        raise _failed(_("%(provider)s refused the sign-in code."), provider)
    return token


async def _oidc_identity(
    provider: Provider, redirect_uri: str, code: str, flow: dict[str, Any]
) -> Identity:
    import httpx  # httpx, joserfc: load on first OAuth sign-in
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    metadata = await _oidc_metadata(provider)
    token = await _fetch_token(
        provider, redirect_uri, metadata["token_endpoint"], code, flow["verifier"]
    )
    async with httpx.AsyncClient(timeout=10) as http:
        published = await http.get(metadata["jwks_uri"])
    try:
        keys = KeySet.import_key_set(published.json())
        decoded = jwt.decode(token.get("id_token", ""), keys, algorithms=["RS256", "ES256"])
        claims = decoded.claims
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": provider.client_id},
            nonce={"essential": True, "value": flow["nonce"]},
            exp={"essential": True},
            sub={"essential": True},
        ).validate(claims)
        _only_ours(claims, provider.client_id)
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise _failed(_("%(provider)s sent an identity we could not verify."), provider) from exc
    return Identity(
        provider=provider.name,
        subject=str(claims["sub"]),
        email=claims.get("email"),
        email_verified=claims.get("email_verified") is True,
        name=str(claims.get("name") or ""),
        avatar_url=claims.get("picture"),
    )


def audiences_of(aud: Any) -> list[str]:
    """An ID token's `aud`: one client id, or a list of them."""
    return [aud] if isinstance(aud, str) else list(aud or [])


def _only_ours(claims: dict[str, Any], client_id: str) -> None:
    """A token also meant for another client, or issued to one (`azp`), is not ours to
    trust (OpenID Connect Core 3.1.3.7): that client could replay it here."""
    if any(other != client_id for other in audiences_of(claims["aud"])):
        raise ValueError("the ID token has audiences besides this client")
    if claims.get("azp", client_id) != client_id:
        raise ValueError("the ID token was issued to another party (azp)")


async def _github_identity(
    provider: Provider, redirect_uri: str, code: str, flow: dict[str, Any]
) -> Identity:
    import httpx  # httpx: loads on first OAuth sign-in

    assert provider.token_url and provider.api_url
    token = await _fetch_token(provider, redirect_uri, provider.token_url, code, flow["verifier"])
    headers = {
        "Authorization": f"Bearer {token['access_token']}",
        "Accept": "application/vnd.github+json",
    }
    async with httpx.AsyncClient(timeout=10, headers=headers) as http:
        user = await http.get(f"{provider.api_url}/user")
        emails = await http.get(f"{provider.api_url}/user/emails")
    profile = _json(user) if user.status_code == 200 else None
    if not isinstance(profile, dict) or not isinstance(profile.get("id"), int | str):
        raise OAuthFailed(_("GitHub did not tell us who you are."))
    listed = _json(emails) if emails.status_code == 200 else None
    rows = [row for row in listed if isinstance(row, dict)] if isinstance(listed, list) else []
    primary = next((row for row in rows if row.get("primary")), None)
    email = primary.get("email") if primary else None
    return Identity(
        provider=provider.name,
        subject=str(profile["id"]),
        email=email if isinstance(email, str) else None,
        email_verified=bool(primary and primary.get("verified") is True),
        name=str(profile.get("name") or profile.get("login") or ""),
        avatar_url=_text_or_none(profile.get("avatar_url")),
    )


def _json(response: Any) -> Any:
    """The body as JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
