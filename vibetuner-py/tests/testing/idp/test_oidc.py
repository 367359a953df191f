"""The OIDC provider, driven by authlib's own client: if authlib accepts it, so will apps."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from vibetuner.testing.idp import LocalOIDCProvider
from vibetuner.testing.idp._oidc import Client

from .conftest import CALLBACK

SCOPE = "openid email profile"


def _client(rp: Client, secret: str | None = None, **options: Any) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=rp.client_id,
        client_secret=rp.client_secret if secret is None else secret,
        scope=SCOPE,
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        **options,
    )


def _query(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def _authorize(client: AsyncOAuth2Client, meta: dict[str, Any]) -> tuple[str, str, str]:
    """Start the dance as a relying party would; return (callback URL, verifier, nonce)."""
    verifier, nonce = generate_token(48), generate_token(20)
    url, _state = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    response = await client.request("GET", url, withhold_token=True)
    assert response.status_code == 302, response.text
    return response.headers["location"], verifier, nonce


async def _metadata(provider: LocalOIDCProvider) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        response = await http.get(provider.metadata_url)
    response.raise_for_status()
    meta: dict[str, Any] = response.json()
    return meta


async def test_discovery_document_describes_the_provider(oidc: LocalOIDCProvider) -> None:
    meta = await _metadata(oidc)
    assert meta["issuer"] == oidc.issuer == f"http://127.0.0.1:{oidc.port}"
    assert meta["authorization_endpoint"] == f"{oidc.issuer}/oauth2/authorize"
    assert meta["token_endpoint"] == f"{oidc.issuer}/oauth2/token"
    assert meta["registration_endpoint"] == f"{oidc.issuer}/oauth2/clients"
    assert meta["response_types_supported"] == ["code"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "email", "profile"} <= set(meta["scopes_supported"])


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_full_code_flow_with_authlib(oidc: LocalOIDCProvider, auth_method: Any) -> None:
    rp = oidc.register_client([CALLBACK], auth_method=auth_method)
    meta = await _metadata(oidc)
    me = oidc.next_identity(email="ada@example.com", name="Ada Lovelace")
    async with _client(rp, token_endpoint_auth_method=auth_method) as client:
        location, verifier, nonce = await _authorize(client, meta)
        assert location.startswith(CALLBACK + "?")
        token = await client.fetch_token(
            meta["token_endpoint"], authorization_response=location, code_verifier=verifier
        )
        assert token["token_type"] == "Bearer"
        assert token["expires_in"] > 0

        keys = KeySet.import_key_set((await client.get(meta["jwks_uri"])).json())
        decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"essential": True, "values": [oidc.issuer]}},
            {"nonce": nonce, "client_id": rp.client_id, "access_token": token["access_token"]},
        )
        claims.validate()  # iss, aud, exp, iat, nonce and at_hash
        assert claims["sub"] == me.sub
        assert claims["email"] == "ada@example.com"
        assert claims["email_verified"] is True
        assert claims["name"] == "Ada Lovelace"
        assert claims["exp"] > time.time()

        info = (await client.get(meta["userinfo_endpoint"])).json()
    assert info == {
        "sub": me.sub,
        "email": "ada@example.com",
        "email_verified": True,
        "name": "Ada Lovelace",
    }


async def test_authlib_starlette_integration_parses_the_id_token(
    oidc: LocalOIDCProvider, oidc_client: Client
) -> None:
    """The registry apps use (server_metadata_url) validates the tokens, JWKS and at_hash."""
    from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    remote: Any = oauth.register(
        "local",
        client_id=oidc_client.client_id,
        client_secret=oidc_client.client_secret,
        server_metadata_url=oidc.metadata_url,
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
    )
    meta = await remote.load_server_metadata()
    oidc.next_identity(email="grace@example.com", email_verified=False, name="Grace")
    async with _client(oidc_client) as client:
        location, verifier, nonce = await _authorize(client, meta)
    token = await remote.fetch_access_token(
        code=_query(location)["code"], redirect_uri=CALLBACK, code_verifier=verifier
    )
    user = await remote.parse_id_token(token, nonce=nonce)
    assert (user["email"], user["email_verified"], user["name"]) == (
        "grace@example.com",
        False,
        "Grace",
    )
    assert (await remote.userinfo(token=token))["email"] == "grace@example.com"


async def test_sub_is_stable_per_email(oidc: LocalOIDCProvider) -> None:
    first = oidc.next_identity(email="Ada@Example.com")
    again = oidc.next_identity(email="ada@example.com")
    chosen = oidc.next_identity(email="ada@example.com", sub="fixed-sub")
    assert first.sub == again.sub != chosen.sub == "fixed-sub"


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_wrong_client_secret_is_invalid_client(
    oidc: LocalOIDCProvider, auth_method: Any
) -> None:
    rp = oidc.register_client([CALLBACK], auth_method=auth_method)
    meta = await _metadata(oidc)
    oidc.next_identity(email="ada@example.com")
    async with _client(rp) as client:
        location, verifier, _nonce = await _authorize(client, meta)
    async with _client(rp, "wrong", token_endpoint_auth_method=auth_method) as bad:
        with pytest.raises(OAuthError) as caught:
            await bad.fetch_token(
                meta["token_endpoint"], authorization_response=location, code_verifier=verifier
            )
    assert caught.value.error == "invalid_client"
    async with httpx.AsyncClient() as http:
        response = await http.post(
            meta["token_endpoint"],
            data={"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK},
            auth=(rp.client_id, "wrong"),
        )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_reused_code_is_invalid_grant(oidc: LocalOIDCProvider, oidc_client: Client) -> None:
    meta = await _metadata(oidc)
    oidc.next_identity(email="ada@example.com")
    async with _client(oidc_client) as client:
        location, verifier, _nonce = await _authorize(client, meta)
        await client.fetch_token(
            meta["token_endpoint"], authorization_response=location, code_verifier=verifier
        )
        assert (await client.get(meta["userinfo_endpoint"])).status_code == 200
        with pytest.raises(OAuthError) as caught:
            await client.fetch_token(
                meta["token_endpoint"], authorization_response=location, code_verifier=verifier
            )
    assert caught.value.error == "invalid_grant"


async def test_redirect_uri_must_match_at_token(oidc: LocalOIDCProvider) -> None:
    rp = oidc.register_client([CALLBACK, "http://app.test/other"])
    meta = await _metadata(oidc)
    oidc.next_identity(email="ada@example.com")
    async with _client(rp) as client:
        location, verifier, _nonce = await _authorize(client, meta)
        with pytest.raises(OAuthError) as caught:
            await client.fetch_token(
                meta["token_endpoint"],
                authorization_response=location,
                code_verifier=verifier,
                redirect_uri="http://app.test/other",
            )
    assert caught.value.error == "invalid_grant"
