"""Real-browser journeys through the example posts feed (see test_browser.py)."""

import asyncio

from playwright.async_api import Browser, Page, expect
from vibetuner.testing import LiveServer, Screenshot, watch_page

from tests.test_browser import sign_in


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


async def test_editing_a_post_in_place(
    page: Page, vibetuner_live_server: LiveServer, vibetuner_screenshot: Screenshot
) -> None:
    await sign_in(page, vibetuner_live_server, "editor@example.com", "Editor")
    await page.goto("/posts")
    await page.fill("#post-content", "Typo in this pots")
    await page.get_by_role("button", name="Post").click()
    item = page.locator("#post-list > li", has_text="Typo in this pots").first
    await expect(item).to_be_visible()
    await page.evaluate("window.notReloaded = true")

    await item.get_by_role("link", name="Edit").click()
    editor = page.locator("#post-list textarea[name=content]")
    await expect(editor).to_have_value("Typo in this pots")
    await vibetuner_screenshot(page, "1-editing")
    await editor.fill("Typo in this post, fixed")
    await page.get_by_role("button", name="Save").click()

    fixed = page.locator("#post-list > li", has_text="Typo in this post, fixed")
    await expect(fixed).to_have_count(1)
    await expect(fixed.locator("[data-edited]")).to_be_visible()
    await expect(page.locator("#post-list textarea")).to_have_count(0)
    assert await page.evaluate("window.notReloaded") is True
    await vibetuner_screenshot(page, "2-edited")
