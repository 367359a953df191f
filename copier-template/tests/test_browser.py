"""Real-browser journeys against the app under `vibetuner run prod`.

Chromium runs the pages' own JavaScript (htmx, assets/config.js) under the production
Content Security Policy; a CSP violation or an uncaught error fails the test. Every page
visited is saved to tests/artifacts/. Without Chromium these tests skip; VIBETUNER_CHROMIUM
points at another binary.
"""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Locator, Page, expect
from vibetuner.testing import LiveServer, Screenshot, watch_page


@pytest.fixture
async def page(
    vibetuner_browser: Browser, vibetuner_live_server: LiveServer
) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies) whose base URL is the live server."""
    context = await vibetuner_browser.new_context(base_url=vibetuner_live_server.url)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    problems = watch_page(page)
    yield page
    await context.close()
    assert problems == [], "\n".join(problems)


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

    (It also keeps magic-link requests from 127.0.0.1 under the sign-in rate limit.)
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
    await expect(signed_in_as(page, email)).to_be_visible()
    await vibetuner_screenshot(page, "3-signed-in")


async def test_posting_with_htmx(
    page: Page, vibetuner_live_server: LiveServer, vibetuner_screenshot: Screenshot
) -> None:
    await sign_in(page, vibetuner_live_server, "writer@example.com", "Writer")
    await page.goto("/posts")
    await vibetuner_screenshot(page, "1-posts")
    await page.evaluate("window.notReloaded = true")
    content, items = page.locator("#post-content"), page.locator("#post-list > li")

    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await content.fill("Hello from a real browser")
        await page.get_by_role("button", name="Post").click()
    response = await posted.value
    headers = await response.request.all_headers()
    assert response.status == 200, "a missing CSRF header would be a 403"
    assert headers.get("hx-request") == "true" and headers.get("x-csrf-token")
    await expect(items.first).to_contain_text("Hello from a real browser")
    await expect(content).to_have_value("")
    assert await page.evaluate("window.notReloaded") is True
    await vibetuner_screenshot(page, "2-posted")

    await page.get_by_role("button", name="Post").click()
    await expect(page.locator("#post-form-errors")).to_contain_text("Content cannot be empty.")
    await vibetuner_screenshot(page, "3-empty-post-error")

    for number in range(1, 12):
        await content.fill(f"Post number {number}")
        await page.get_by_role("button", name="Post").click()
        await expect(items.first).to_contain_text(f"Post number {number}")
    await expect(page.locator("#post-form-errors")).to_be_empty()
    assert await page.evaluate("window.notReloaded") is True

    await page.reload()
    await expect(items).to_have_count(10)
    await vibetuner_screenshot(page, "4-first-page")
    await page.get_by_role("button", name="Load more").click()
    await expect(items).to_have_count(12)
    await expect(items.last).to_contain_text("Hello from a real browser")
    await expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    await vibetuner_screenshot(page, "5-loaded-more")


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
    await page.goto("/auth/login")
    await page.click(f'a[data-provider="{vibetuner_live_server.oidc_name}"]')
    assert page.url.startswith(vibetuner_live_server.idp.issuer)
    await vibetuner_screenshot(page, "1-provider")
    await page.fill('input[name="email"]', email)
    await page.fill('input[name="name"]', "Ada Lovelace")
    await page.check('input[name="email_verified"]')
    await page.get_by_role("button", name="Sign in").click()
    await expect(signed_in_as(page, email)).to_have_text("Ada Lovelace")
    assert page.url.startswith(vibetuner_live_server.url)
    await vibetuner_screenshot(page, "2-signed-in")


async def test_new_posts_appear_live_for_other_visitors(
    page: Page,
    vibetuner_browser: Browser,
    vibetuner_live_server: LiveServer,
    vibetuner_screenshot: Screenshot,
) -> None:
    context = await vibetuner_browser.new_context(base_url=vibetuner_live_server.url)
    visitor = await context.new_page()
    problems = watch_page(visitor)
    try:
        async with visitor.expect_response(lambda r: r.url.endswith("/posts/live")):
            await visitor.goto("/posts")
        await visitor.evaluate("window.notReloaded = true")

        await sign_in(page, vibetuner_live_server, "live@example.com", "Live Writer")
        await page.goto("/posts")
        await page.fill("#post-content", "Seen live by everyone")
        await page.get_by_role("button", name="Post").click()

        live = visitor.locator("#post-list > li", has_text="Seen live by everyone")
        await expect(live).to_have_count(1)
        assert await visitor.evaluate("window.notReloaded") is True
        await vibetuner_screenshot(visitor, "1-visitor-sees-the-new-post")
        mine = page.locator("#post-list > li", has_text="Seen live by everyone")
        await asyncio.sleep(0.5)  # the author's own live copy has arrived by now
        await expect(mine).to_have_count(1)
    finally:
        await context.close()
    assert problems == [], "\n".join(problems)
