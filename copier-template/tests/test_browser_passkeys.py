"""A real browser adds a passkey and signs in with it (see test_browser.py).

Chromium's DevTools protocol gives the page a virtual authenticator (WebAuthn.
addVirtualAuthenticator): a platform authenticator with user verification that answers
at once, so the page's own script runs both ceremonies as it does for a person.
"""

from typing import Any

from playwright.async_api import Page, expect
from pymongo import MongoClient
from vibetuner.testing import LiveServer, Screenshot

from tests.test_browser import magic_link_for, signed_in_as

SESSION_COOKIE = "__Host-vt_session"  # prod cookies are Secure, so their name carries __Host-


async def add_virtual_authenticator(page: Page) -> Any:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    options = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
               "hasUserVerification": True, "isUserVerified": True,
               "automaticPresenceSimulation": True}  # fmt: skip
    added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp, added["authenticatorId"]


NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"
"""Makes the page's Chromium one without passkey autofill (conditional mediation)."""


async def sign_out(page: Page) -> None:
    await page.goto("/auth/logout")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()


async def session_cookie(page: Page) -> str:
    cookies = await page.context.cookies()
    return next(c["value"] for c in cookies if c["name"] == SESSION_COOKIE)


def stored_passkeys(live: LiveServer, email: str) -> list[dict[str, Any]]:
    """The passkeys the server keeps for `email`, read from its database."""
    with MongoClient(live.database_url) as client:
        database = client.get_default_database()
        user = database["users"].find_one({"email": email})
        assert user is not None
        return list(database["passkeys"].find({"user_id": user["_id"]}))


async def test_passkey_registration_and_sign_in(
    page: Page, vibetuner_live_server: LiveServer, vibetuner_screenshot: Screenshot
) -> None:
    live, email = vibetuner_live_server, "passkey-user@example.com"
    cdp, authenticator = await add_virtual_authenticator(page)

    # First sign-in by magic link, as every account starts.
    await page.goto("/auth/login")
    await page.fill("#login-email", email)
    await page.get_by_role("button", name="Email me a sign-in link").click()
    await expect(page.locator("[data-check-email]")).to_be_visible()
    await page.goto(await magic_link_for(live, email))
    await page.get_by_role("button", name="Sign in").click()
    await expect(signed_in_as(page, email)).to_be_visible()

    # The account page loads its passkeys section; the browser creates one.
    await page.goto("/account")
    await expect(page.locator("[data-no-passkeys]")).to_be_visible()
    await vibetuner_screenshot(page, "1-account-no-passkeys")
    await page.fill("#passkey-name", "Test laptop")
    await page.get_by_role("button", name="Add a passkey").click()
    await expect(page.locator("[data-passkey-name]")).to_have_text("Test laptop")
    await expect(page.locator("[data-passkey-error]")).to_be_empty()
    await vibetuner_screenshot(page, "2-passkey-added")
    held = await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(held["credentials"]) == 1 and held["credentials"][0]["isResidentCredential"]
    [stored] = stored_passkeys(live, email)
    assert stored["name"] == "Test laptop" and stored["last_used_at"] is None

    # Sign out; the sign-in page offers the passkey in the email field's autofill
    # (conditional UI), which the virtual authenticator answers by itself.
    await sign_out(page)
    await page.goto("/auth/login")
    await expect(signed_in_as(page, email)).to_be_visible()
    assert page.url == f"{live.url}/"
    await vibetuner_screenshot(page, "3-signed-in-by-autofill")

    # Where the browser has no autofill for passkeys, the button asks.
    await sign_out(page)
    await page.add_init_script(NO_AUTOFILL)
    await page.goto("/auth/login")
    email_field = page.locator("#login-email")
    assert await email_field.get_attribute("autocomplete") == "username webauthn"
    await expect(page.get_by_role("button", name="Use a passkey")).to_be_visible()
    await vibetuner_screenshot(page, "4-login-with-passkey")
    before = await session_cookie(page)
    await page.get_by_role("button", name="Use a passkey").click()
    await expect(signed_in_as(page, email)).to_be_visible()
    assert page.url == f"{live.url}/"
    assert await session_cookie(page) != before, "a passkey sign-in rotates the session"
    await vibetuner_screenshot(page, "5-signed-in-with-passkey")
    [used] = stored_passkeys(live, email)
    held = await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert used["sign_count"] == held["credentials"][0]["signCount"] >= 2  # two sign-ins
    assert used["last_used_at"] is not None

    # Removing it leaves the account with magic links.
    page.once("dialog", lambda dialog: dialog.accept())
    await page.goto("/account/passkeys")
    await page.get_by_role("button", name="Remove").click()
    await expect(page.locator("[data-no-passkeys]")).to_be_visible()
    assert stored_passkeys(live, email) == []
