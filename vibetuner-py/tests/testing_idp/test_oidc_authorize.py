"""The authorization endpoint as a browser sees it: the form, Deny, and refused requests."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from vibetuner.testing_idp import LocalOIDCProvider

from .conftest import CALLBACK, CLIENT_ID, CLIENT_SECRET


def _request(**overrides: str | None) -> tuple[dict[str, str], str]:
    verifier = generate_token(48)
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": CLIENT_ID,
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


async def test_sign_in_form_then_code(oidc: LocalOIDCProvider) -> None:
    params, verifier = _request(login_hint="hint@example.com")
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        page = await http.get("/authorize", params=params)
        assert page.status_code == 200
        for needle in ('name="email"', 'name="name"', 'name="email_verified"', "Sign in", "Deny"):
            assert needle in page.text
        assert 'value="hint@example.com"' in page.text
        form: dict[str, Any] = {**params, "email": "lin@example.com", "name": "Lin"}
        query = _query(await http.post("/authorize", data=form))  # checkbox left unticked
        assert query["state"] == "st-123"
        token = await http.post(
            "/token",
            data={"grant_type": "authorization_code", "code": query["code"],
                  "redirect_uri": CALLBACK, "code_verifier": verifier},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )  # fmt: skip
        assert token.status_code == 200
        assert token.headers["cache-control"] == "no-store"
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        info = (await http.get("/userinfo", headers=bearer)).json()
    assert info["email"] == "lin@example.com"
    assert (info["email_verified"], info["name"]) == (False, "Lin")


async def test_deny_redirects_with_access_denied(oidc: LocalOIDCProvider) -> None:
    params, _verifier = _request()
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        response = await http.post("/authorize", data={**params, "decision": "deny"})
    query = _query(response)
    assert query["error"] == "access_denied"
    assert query["state"] == "st-123"
    assert "code" not in query


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": "http://evil.test/callback"},
        {"redirect_uri": CALLBACK + "/deeper"},
        {"redirect_uri": None},
        {"client_id": "unknown"},
    ],
)
async def test_untrusted_redirect_is_an_error_page(
    oidc: LocalOIDCProvider, overrides: dict[str, str | None]
) -> None:
    oidc.next_identity(email="ada@example.com")
    params, _verifier = _request(**overrides)
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        response = await http.get("/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "email profile"}, "invalid_scope"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"nonce": None}, "invalid_request"),
    ],
)
async def test_bad_requests_redirect_with_an_error(
    oidc: LocalOIDCProvider, overrides: dict[str, str | None], error: str
) -> None:
    params, _verifier = _request(**overrides)
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        query = _query(await http.get("/authorize", params=params))
    assert query["error"] == error
    assert query["state"] == "st-123"


async def test_lenient_provider_accepts_a_bare_request() -> None:
    clients = {CLIENT_ID: {"secret": CLIENT_SECRET, "redirect_uris": [CALLBACK]}}
    async with LocalOIDCProvider(clients, strict=False) as provider:
        provider.next_identity(email="ada@example.com")
        params, _verifier = _request(state=None, nonce=None, code_challenge=None)
        params.pop("code_challenge_method")
        async with httpx.AsyncClient(base_url=provider.issuer) as http:
            query = _query(await http.get("/authorize", params=params))
            token = await http.post(
                "/token",
                data={"grant_type": "authorization_code", "code": query["code"],
                      "redirect_uri": CALLBACK, "client_id": CLIENT_ID,
                      "client_secret": CLIENT_SECRET},
            )  # fmt: skip
    assert token.status_code == 200
    assert "state" not in query


async def test_token_endpoint_errors(oidc: LocalOIDCProvider) -> None:
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        wrong_grant = await http.post(
            "/token", data={"grant_type": "password"}, auth=(CLIENT_ID, CLIENT_SECRET)
        )
        no_client = await http.post("/token", data={"grant_type": "authorization_code"})
        bad_code = await http.post(
            "/token",
            data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": CALLBACK},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
        anonymous = await http.get("/userinfo")
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "unsupported_grant_type")
    assert (no_client.status_code, no_client.json()["error"]) == (401, "invalid_client")
    assert (bad_code.status_code, bad_code.json()["error"]) == (400, "invalid_grant")
    assert anonymous.status_code == 401


async def test_next_identity_is_one_shot(oidc: LocalOIDCProvider) -> None:
    oidc.next_identity(email="ada@example.com")
    params, _verifier = _request()
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        first = await http.get("/authorize", params=params)
        second = await http.get("/authorize", params=params)
    assert first.status_code == 302
    assert second.status_code == 200  # back to the sign-in form
