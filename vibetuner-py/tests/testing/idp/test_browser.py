"""A real browser signs in through both providers' HTML forms (skipped without Chromium,
except under VIBETUNER_REQUIRE_ALL=1)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from vibetuner.testing._live import chromium
from vibetuner.testing.idp import LocalGitHub, LocalOIDCProvider
from vibetuner.testing.idp._oidc import Client

from .conftest import CALLBACK, CLIENT_ID


async def _browse(
    start: str, fill: dict[str, str], button: str, uncheck: tuple[str, ...] = ()
) -> dict[str, str]:
    """Open `start`, fill the form, press `button`; return the callback's query."""
    from playwright import async_api as playwright_api  # the testing extra: browser tests only

    executable = chromium()  # skips without one (fails under VIBETUNER_REQUIRE_ALL=1)
    landed: list[str] = []

    async def callback(route: Any) -> None:
        landed.append(route.request.url)
        await route.fulfill(status=200, body="signed in")

    async def elsewhere(route: Any) -> None:
        """The mock provider's page links a stylesheet on a CDN: stay on this machine."""
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            await route.abort()

    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page()
            await page.route("**/*", elsewhere)
            await page.route(f"{CALLBACK}**", callback)  # the later route is asked first
            await page.goto(start)
            for name, value in fill.items():
                await page.fill(f'input[name="{name}"]', value)
            for name in uncheck:
                await page.uncheck(f'input[name="{name}"]')
            await page.get_by_role("button", name=button, exact=True).click()
            await page.wait_for_url(f"{CALLBACK}**", timeout=10_000)
        finally:
            await browser.close()
    return {key: values[0] for key, values in parse_qs(urlsplit(landed[-1]).query).items()}


async def test_browser_signs_in_at_the_oidc_provider(
    oidc: LocalOIDCProvider, oidc_client: Client
) -> None:
    eve = oidc.add_user(email="eve@example.com", name="Eve", email_verified=False)
    verifier = generate_token(48)
    params = {
        "response_type": "code", "client_id": oidc_client.client_id, "redirect_uri": CALLBACK,
        "scope": "openid email profile", "state": "s1", "nonce": "n1",
        "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
    }  # fmt: skip
    start = f"{oidc.issuer}/oauth2/authorize?{urlencode(params)}"
    query = await _browse(start, {"sub": eve.sub}, "Authorize")
    assert query["state"] == "s1"
    async with httpx.AsyncClient() as http:
        token = await http.post(
            f"{oidc.issuer}/oauth2/token",
            data={"grant_type": "authorization_code", "code": query["code"],
                  "redirect_uri": CALLBACK, "code_verifier": verifier},
            auth=(oidc_client.client_id, oidc_client.client_secret),
        )  # fmt: skip
        info = await http.get(
            f"{oidc.issuer}/userinfo",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
    assert info.json()["email"] == "eve@example.com"
    assert info.json()["email_verified"] is False


async def test_browser_denies_at_github(github: LocalGitHub) -> None:
    params = {"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "state": "s2"}
    start = f"{github.authorize_url}?{urlencode(params)}"
    query = await _browse(start, {"login": "mallory"}, "Deny", uncheck=("email_verified",))
    assert (query["error"], query["state"]) == ("access_denied", "s2")
    assert "mallory" not in github.users
