"""Real-browser journeys through the example posts feed (see test_browser.py)."""

from playwright.async_api import Browser, Page, expect
from vibetuner.testing import LiveServer, Screenshot, watch_page

from tests.test_browser import sign_in

# Counts the live copies (data-live) that reach the page, even those dropped at once.
SEE_LIVE_COPIES = """() => {
    window.liveCopies = 0;
    new MutationObserver((records) => {
        for (const r of records) for (const n of r.addedNodes)
            if (n instanceof Element && n.hasAttribute("data-live")) window.liveCopies++;
    }).observe(document.querySelector("#post-list"), { childList: true });
}"""


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
        async with page.expect_response(lambda r: r.url.endswith("/posts/live")):
            await page.goto("/posts")
        await page.evaluate(SEE_LIVE_COPIES)
        await page.fill("#post-content", "Seen live by everyone")
        await page.get_by_role("button", name="Post").click()

        live = visitor.locator("#post-list > li", has_text="Seen live by everyone")
        await expect(live).to_have_count(1)
        assert await visitor.evaluate("window.notReloaded") is True
        await vibetuner_screenshot(visitor, "1-visitor-sees-the-new-post")
        mine = page.locator("#post-list > li", has_text="Seen live by everyone")
        await page.wait_for_function("window.liveCopies > 0")  # the author's own live copy
        await expect(mine).to_have_count(1)
        await expect(mine.get_by_role("link", name="Edit")).to_be_visible()
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


async def test_deleting_a_post(
    page: Page, vibetuner_live_server: LiveServer, vibetuner_screenshot: Screenshot
) -> None:
    """Delete asks first; declined, nothing happens; confirmed, the post is gone for good."""
    await sign_in(page, vibetuner_live_server, "deleter@example.com", "Deleter")
    await page.goto("/posts")
    await page.fill("#post-content", "Posted by mistake")
    await page.get_by_role("button", name="Post").click()
    item = page.locator("#post-list > li", has_text="Posted by mistake")
    await expect(item).to_have_count(1)
    await item.get_by_role("link", name="Edit").click()
    delete = page.locator("#post-list [data-delete]")
    await expect(delete).to_be_visible()
    await vibetuner_screenshot(page, "1-edit-with-delete")

    page.once("dialog", lambda dialog: dialog.dismiss())
    await delete.click()
    await expect(page.locator("#post-list textarea")).to_have_count(1)

    async with page.expect_response(lambda r: r.url.endswith("/delete")) as deleted:
        page.once("dialog", lambda dialog: dialog.accept())
        await delete.click()
    assert (await deleted.value).status == 200
    await expect(page.locator("#post-list > li", has_text="Posted by mistake")).to_have_count(0)
    await page.reload()
    await expect(page.locator("#post-list > li", has_text="Posted by mistake")).to_have_count(0)
    await vibetuner_screenshot(page, "2-deleted")


async def test_creating_then_editing_twenty_times(
    page: Page, vibetuner_live_server: LiveServer
) -> None:
    """The live copy of a new post races its author's form response: Edit must always stay."""
    await sign_in(page, vibetuner_live_server, "repeat@example.com", "Repeat")
    await page.goto("/posts")
    for number in range(20):
        await page.fill("#post-content", f"Draft {number}")
        await page.get_by_role("button", name="Post").click()
        item = page.locator("#post-list > li", has_text=f"Draft {number}")
        await expect(item).to_have_count(1)
        await item.get_by_role("link", name="Edit").click()
        editor = page.locator("#post-list textarea[name=content]")
        await expect(editor).to_have_value(f"Draft {number}")
        await editor.fill(f"Final {number}")
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("#post-list > li", has_text=f"Final {number}")).to_have_count(1)
        await expect(page.locator("#post-list textarea")).to_have_count(0)


async def test_a_live_copy_never_replaces_the_authors_own(
    page: Page, vibetuner_live_server: LiveServer
) -> None:
    """Either order of arrival leaves the author's copy (with its Edit link) in the list."""
    await sign_in(page, vibetuner_live_server, "order@example.com", "Order")
    await page.goto("/posts")
    add_live_copy = """(id) => {
        const live = document.createElement("li");
        live.id = id;
        live.setAttribute("data-live", "");
        live.textContent = "live copy";
        document.querySelector("#post-list").prepend(live);
    }"""
    await page.fill("#post-content", "Mine first")
    await page.get_by_role("button", name="Post").click()
    mine = page.locator("#post-list > li", has_text="Mine first")
    await expect(mine.get_by_role("link", name="Edit")).to_be_visible()
    item_id = await mine.get_attribute("id")
    await page.evaluate(add_live_copy, item_id)  # the live copy arrives after the response
    await expect(page.locator(f"#post-list > li#{item_id}")).to_have_count(1)
    await expect(mine.get_by_role("link", name="Edit")).to_be_visible()

    await page.evaluate(add_live_copy, "post-next")  # ...or before it
    await page.evaluate(
        """() => {
            const own = document.createElement("li");
            own.id = "post-next";
            own.textContent = "own copy";
            document.querySelector("#post-list").prepend(own);
        }"""
    )
    await expect(page.locator("#post-list > li#post-next")).to_have_text("own copy")
