"""The authorization endpoint as a browser sees it: the form, Deny, and refused requests."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from vibetuner.testing.idp import LocalOIDCProvider
from vibetuner.testing.idp._oidc import Client

from .conftest import CALLBACK

AUTHORIZE = "/oauth2/authorize"


def _request(rp: Client, **overrides: str | None) -> tuple[dict[str, str], str]:
    verifier = generate_token(48)
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid email profile",
        "state": "st-123",
        "nonce": "n-456",
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
        **overrides,
    }
    return {key: value for key, value in params.items() if value is not None}, verifier


def _query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def test_sign_in_form_then_code(oidc: LocalOIDCProvider, oidc_client: Client) -> None:
    lin = oidc.add_user(email="lin@example.com", name="Lin", email_verified=False)
    params, verifier = _request(oidc_client)
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        page = await http.get(AUTHORIZE, params=params)
        assert page.status_code == 200
        for needle in ('name="sub"', "Authorize", "Deny"):
            assert needle in page.text
        query = _query(await http.post(AUTHORIZE, params=params, data={"sub": lin.sub}))
        assert query["state"] == "st-123"
        token = await http.post(
            "/oauth2/token",
            data={"grant_type": "authorization_code", "code": query["code"],
                  "redirect_uri": CALLBACK, "code_verifier": verifier},
            auth=(oidc_client.client_id, oidc_client.client_secret),
        )  # fmt: skip
        assert token.status_code == 200
        assert token.headers["cache-control"] == "no-store"
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        info = (await http.get("/userinfo", headers=bearer)).json()
    assert info["sub"] == lin.sub
    assert info["email"] == "lin@example.com"
    assert (info["email_verified"], info["name"]) == (False, "Lin")


async def test_deny_redirects_with_access_denied(
    oidc: LocalOIDCProvider, oidc_client: Client
) -> None:
    params, _verifier = _request(oidc_client)
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        response = await http.post(AUTHORIZE, params=params, data={"action": "deny"})
    query = _query(response)
    assert query["error"] == "access_denied"
    assert "code" not in query


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": "http://evil.test/callback"},
        {"redirect_uri": CALLBACK + "/deeper"},
        {"client_id": "unknown"},
        {"response_type": "token"},
    ],
)
async def test_untrusted_requests_get_an_error_not_a_redirect(
    oidc: LocalOIDCProvider, oidc_client: Client, overrides: dict[str, str | None]
) -> None:
    oidc.next_identity(email="ada@example.com")
    params, _verifier = _request(oidc_client, **overrides)
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        response = await http.get(AUTHORIZE, params=params)
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [({"nonce": None}, "invalid_request"), ({"prompt": "none"}, "login_required")],
)
async def test_bad_requests_redirect_with_an_error(
    oidc: LocalOIDCProvider, oidc_client: Client, overrides: dict[str, str | None], error: str
) -> None:
    params, _verifier = _request(oidc_client, **overrides)
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        query = _query(await http.get(AUTHORIZE, params=params))
    assert query["error"] == error
    assert query["state"] == "st-123"
    assert "code" not in query


async def test_token_endpoint_errors(oidc: LocalOIDCProvider, oidc_client: Client) -> None:
    credentials = (oidc_client.client_id, oidc_client.client_secret)
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        wrong_grant = await http.post(
            "/oauth2/token", data={"grant_type": "password"}, auth=credentials
        )
        no_client = await http.post("/oauth2/token", data={"grant_type": "authorization_code"})
        bad_code = await http.post(
            "/oauth2/token",
            data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": CALLBACK},
            auth=credentials,
        )
        anonymous = await http.get("/userinfo")
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "unsupported_grant_type")
    assert (no_client.status_code, no_client.json()["error"]) == (401, "invalid_client")
    assert (bad_code.status_code, bad_code.json()["error"]) == (400, "invalid_grant")
    assert anonymous.status_code == 401


async def test_next_identity_is_one_shot(oidc: LocalOIDCProvider, oidc_client: Client) -> None:
    oidc.next_identity(email="ada@example.com")
    params, _verifier = _request(oidc_client)
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        first = await http.get(AUTHORIZE, params=params)
        second = await http.get(AUTHORIZE, params=params)
    assert first.status_code == 302
    assert second.status_code == 200  # back to the sign-in form
