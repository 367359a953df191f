"""Real-browser journeys against the app under `vibetuner run prod`.

Chromium runs the pages' own JavaScript (htmx, assets/config.js) under the production
Content Security Policy; a CSP violation or an uncaught error fails the test. Every page
visited is saved to tests/artifacts/. Without Chromium these tests skip; VIBETUNER_CHROMIUM
points at another binary.
"""

import asyncio
import re
import time

from playwright.async_api import Locator, Page, expect
from vibetuner.testing import LiveServer, Screenshot


def signed_in_as(page: Page, email: str) -> Locator:
    return page.locator(f'a[data-user-email="{email}"]')


async def magic_link_for(live: LiveServer, email: str) -> str:
    """The sign-in link in the last message the app sent to `email`."""

    def wait() -> str:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for index in reversed(range(len(live.smtp.messages))):
                if email in str(live.smtp.messages[index]["To"]):
                    return next(u for u in live.smtp.links(index) if "/auth/magic/" in u)
            time.sleep(0.05)
        raise AssertionError(f"no sign-in email reached {email}")

    return await asyncio.to_thread(wait)


async def sign_in(page: Page, live: LiveServer, email: str, name: str) -> None:
    """Sign in quickly: the local provider answers for `email` without showing its form.

    (It also keeps magic-link requests from this machine under the sign-in rate limit.)
    """
    live.idp.next_identity(email=email, name=name)
    await page.goto("/auth/login")
    await page.click(f'a[data-provider="{live.oidc_name}"]')
    await expect(signed_in_as(page, email)).to_be_visible()


async def test_magic_link_signs_in(
    page: Page, vibetuner_live_server: LiveServer, vibetuner_screenshot: Screenshot
) -> None:
    email = "reader@example.com"
    await page.goto("/auth/login")
    await vibetuner_screenshot(page, "1-login")
    await page.fill("#login-email", email)
    await page.get_by_role("button", name="Email me a sign-in link").click()
    await expect(page.locator("[data-check-email]")).to_be_visible()
    assert page.url.endswith("/auth/login"), "htmx swapped the card in place"
    await vibetuner_screenshot(page, "2-check-email")

    await page.goto(await magic_link_for(vibetuner_live_server, email))
    await expect(page.locator("form[data-magic-confirm]")).to_be_visible()
    await expect(signed_in_as(page, email)).to_have_count(0)  # opening a link signs nobody in
    await vibetuner_screenshot(page, "3-confirm")
    await page.get_by_role("button", name="Sign in").click()
    await expect(signed_in_as(page, email)).to_be_visible()
    await vibetuner_screenshot(page, "4-signed-in")


async def test_sign_out(
    page: Page, vibetuner_live_server: LiveServer, vibetuner_screenshot: Screenshot
) -> None:
    await sign_in(page, vibetuner_live_server, "leaving@example.com", "Leaving")
    await page.goto("/auth/logout")
    await vibetuner_screenshot(page, "1-confirm")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert page.url == f"{vibetuner_live_server.url}/"
    await expect(page.locator("a[data-user-email]")).to_have_count(0)
    await vibetuner_screenshot(page, "2-signed-out")


async def test_oauth_sign_in(
    page: Page, vibetuner_live_server: LiveServer, vibetuner_screenshot: Screenshot
) -> None:
    email = "oidc-user@example.com"
    user = vibetuner_live_server.idp.add_user(email=email, name="Ada Lovelace")
    # The provider's page links a stylesheet on a CDN: the browser stays on this machine.
    await page.route(
        re.compile(r"^https?://(?!(127\.0\.0\.1|localhost)[:/])"), lambda route: route.abort()
    )
    await page.goto("/auth/login")
    await page.click(f'a[data-provider="{vibetuner_live_server.oidc_name}"]')
    assert page.url.startswith(vibetuner_live_server.idp.issuer)
    await vibetuner_screenshot(page, "1-provider")
    await page.fill('input[name="sub"]', user.sub)
    await page.get_by_role("button", name="Authorize").click()
    await expect(signed_in_as(page, email)).to_have_text("Ada Lovelace")
    assert page.url.startswith(vibetuner_live_server.url)
    await vibetuner_screenshot(page, "2-signed-in")
