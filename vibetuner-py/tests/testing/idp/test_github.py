"""The GitHub look-alike, driven by authlib's OAuth 2 client and plain httpx."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

from vibetuner.testing.idp import GitHubEmail, LocalGitHub

from .conftest import CALLBACK, CLIENT_ID, CLIENT_SECRET


def _client(secret: str = CLIENT_SECRET, scope: str = "read:user user:email") -> AsyncOAuth2Client:
    return AsyncOAuth2Client(CLIENT_ID, secret, scope=scope, redirect_uri=CALLBACK)


async def _code_callback(client: AsyncOAuth2Client, github: LocalGitHub, **extra: Any) -> str:
    url, _state = client.create_authorization_url(github.authorize_url, **extra)
    response = await client.request("GET", url, withhold_token=True)
    assert response.status_code == 302, response.text
    location: str = response.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return location


def _query(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def test_full_web_flow_then_user_and_emails(github: LocalGitHub) -> None:
    github.next_identity(
        "octocat",
        name="The Octocat",
        emails=[
            GitHubEmail("octo@work.test", primary=True, verified=True, visibility="private"),
            GitHubEmail("octo@old.test", verified=False),
        ],
    )
    async with _client() as client:
        location = await _code_callback(client, github)
        token = await client.fetch_token(github.access_token_url, authorization_response=location)
        assert token["access_token"].startswith("gho_")
        assert token["token_type"] == "bearer"
        assert token["scope"] == "read:user,user:email"
        user = (await client.get(f"{github.api_url}/user")).json()
        emails = await client.get(f"{github.api_url}/user/emails")
    assert user["login"] == "octocat"
    assert user["name"] == "The Octocat"
    assert user["email"] is None  # the primary address is private
    assert isinstance(user["id"], int)
    assert user["avatar_url"].startswith(github.url)
    assert emails.headers["x-oauth-scopes"] == "read:user, user:email"
    assert emails.json() == [
        {"email": "octo@work.test", "primary": True, "verified": True, "visibility": "private"},
        {"email": "octo@old.test", "primary": False, "verified": False, "visibility": None},
    ]


async def test_pkce_and_public_email(github: LocalGitHub) -> None:
    user = github.add_user("hubot", name="Hubot", email="hubot@example.com", public=True)
    github.next_identity("hubot")
    verifier = generate_token(48)
    async with AsyncOAuth2Client(
        CLIENT_ID, CLIENT_SECRET, scope="user:email", redirect_uri=CALLBACK,
        code_challenge_method="S256", token_endpoint_auth_method="client_secret_post",
    ) as client:  # fmt: skip
        location = await _code_callback(client, github, code_verifier=verifier)
        with pytest.raises(OAuthError) as caught:
            await client.fetch_token(
                github.access_token_url,
                authorization_response=location,
                code_verifier=generate_token(48),
            )
        assert caught.value.error == "bad_verification_code"
        github.next_identity("hubot")
        location = await _code_callback(client, github, code_verifier=verifier)
        await client.fetch_token(
            github.access_token_url, authorization_response=location, code_verifier=verifier
        )
        me = (await client.get(f"{github.api_url}/user")).json()
    assert (me["id"], me["email"]) == (user.id, "hubot@example.com")


async def test_token_errors_come_back_as_200_with_an_error(github: LocalGitHub) -> None:
    github.next_identity("octocat")
    async with _client() as client:
        location = await _code_callback(client, github)
    async with _client(secret="wrong") as bad, httpx.AsyncClient() as http:
        with pytest.raises(OAuthError) as caught:
            await bad.fetch_token(github.access_token_url, authorization_response=location)
        assert caught.value.error == "incorrect_client_credentials"
        data = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        reused = await http.post(github.access_token_url, data={**data, "code": "bogus"})
    assert reused.status_code == 200
    assert reused.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(reused.text)["error"] == ["bad_verification_code"]


async def test_form_encoded_token_without_accept_json(github: LocalGitHub) -> None:
    github.next_identity("octocat")
    async with _client() as client:
        code = _query(await _code_callback(client, github))["code"]
    async with httpx.AsyncClient() as http:
        data = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": code}
        response = await http.post(github.access_token_url, data=data)
        token = parse_qs(response.text)["access_token"][0]
        by_token = await http.get(
            f"{github.api_url}/user", headers={"Authorization": f"token {token}"}
        )
        again = await http.post(github.access_token_url, data=data)
        revoked = await http.get(
            f"{github.api_url}/user", headers={"Authorization": f"token {token}"}
        )
    assert parse_qs(response.text)["token_type"] == ["bearer"]
    assert by_token.json()["login"] == "octocat"
    assert parse_qs(again.text)["error"] == ["bad_verification_code"]
    assert revoked.json() == {"message": "Bad credentials", "documentation_url": revoked.json()[
        "documentation_url"
    ]}  # fmt: skip


async def test_api_needs_a_token_and_emails_need_the_scope(github: LocalGitHub) -> None:
    github.next_identity("octocat")
    async with _client(scope="read:user") as client:
        location = await _code_callback(client, github)
        await client.fetch_token(github.access_token_url, authorization_response=location)
        emails = await client.get(f"{github.api_url}/user/emails")
    async with httpx.AsyncClient() as http:
        anonymous = await http.get(f"{github.api_url}/user")
    assert emails.status_code == 404
    assert anonymous.status_code == 401
    assert anonymous.json()["message"] == "Requires authentication"


async def test_sign_in_form_and_deny(github: LocalGitHub) -> None:
    params = {"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "scope": "user:email",
              "state": "xyz"}  # fmt: skip
    async with httpx.AsyncClient(base_url=github.url) as http:
        page = await http.get("/login/oauth/authorize", params=params)
        signed_in = await http.post(
            "/login/oauth/authorize",
            data={**params, "login": "mona", "name": "Mona", "email": "mona@example.com",
                  "email_verified": "true"},
        )  # fmt: skip
        denied = await http.post("/login/oauth/authorize", data={**params, "decision": "deny"})
    assert page.status_code == 200
    assert 'name="login"' in page.text
    assert "Sign in" in page.text
    assert _query(signed_in.headers["location"])["state"] == "xyz"
    assert github.users["mona"].emails == (
        GitHubEmail("mona@example.com", primary=True, verified=True, visibility="private"),
    )
    query = _query(denied.headers["location"])
    assert (query["error"], query["state"]) == ("access_denied", "xyz")


@pytest.mark.parametrize(
    ("redirect_uri", "allowed"),
    [
        (CALLBACK, True),
        (CALLBACK + "/github", True),
        (None, True),  # GitHub falls back to the app's callback URL
        ("http://app.test/elsewhere", False),
        ("http://evil.test/auth/callback", False),
        (CALLBACK + "extra", False),
    ],
)
async def test_redirect_uri_rules(
    github: LocalGitHub, redirect_uri: str | None, allowed: bool
) -> None:
    github.next_identity("octocat")
    params = {"client_id": CLIENT_ID, "state": "s"}
    if redirect_uri is not None:
        params["redirect_uri"] = redirect_uri
    async with httpx.AsyncClient(base_url=github.url) as http:
        response = await http.get("/login/oauth/authorize", params=params)
    assert response.status_code == (302 if allowed else 400)
    if allowed:
        assert response.headers["location"].startswith(redirect_uri or CALLBACK)


async def test_unknown_client_is_an_error_page(github: LocalGitHub) -> None:
    async with httpx.AsyncClient(base_url=github.url) as http:
        response = await http.get("/login/oauth/authorize", params={"client_id": "nope"})
    assert response.status_code == 404
    assert "location" not in response.headers
