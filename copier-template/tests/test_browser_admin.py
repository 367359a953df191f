"""A real browser through the admin: list, edit, the model's own message, save, audit entry
(see test_browser.py)."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from playwright.async_api import Page, expect
from vibetuner.testing import LiveServer, Screenshot

from tests.test_browser import magic_link_for, signed_in_as


def make_admin(live: LiveServer, email: str) -> None:
    """The operator's own command, run against the live server's database."""
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env["DATABASE_URL"] = live.database_url
    if live.redis_url:
        env["REDIS_URL"] = live.redis_url
    vibetuner = Path(sys.executable).parent / "vibetuner"
    done = subprocess.run(
        [str(vibetuner), "users", "create", email, "--role", "admin", "--name", "Root"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


async def test_admin_edits_a_post_sees_the_models_message_and_the_audit_entry(
    page: Page, vibetuner_live_server: LiveServer, vibetuner_screenshot: Screenshot
) -> None:
    email = "root@example.com"
    await asyncio.to_thread(make_admin, vibetuner_live_server, email)
    await page.goto("/auth/login")
    await page.fill("#login-email", email)
    await page.get_by_role("button", name="Email me a sign-in link").click()
    await expect(page.locator("[data-check-email]")).to_be_visible()
    await page.goto(await magic_link_for(vibetuner_live_server, email))
    await page.get_by_role("button", name="Sign in").click()
    await expect(signed_in_as(page, email)).to_be_visible()

    await page.goto("/posts")
    await page.fill("#post-content", "Written by the admin, with a tpyo")
    await page.get_by_role("button", name="Post").click()
    await expect(page.locator("#post-list > li", has_text="with a tpyo")).to_have_count(1)

    await page.goto("/admin")
    await vibetuner_screenshot(page, "1-index")
    await page.locator('[data-admin-model="posts"]').click()
    row = page.locator("[data-admin-row]", has_text="with a tpyo")
    await expect(row).to_have_count(1)
    await vibetuner_screenshot(page, "2-list")
    await row.get_by_role("link", name="View").click()
    await page.locator("[data-admin-edit]").click()

    content = page.locator('#admin-form textarea[name="content"]')
    await expect(content).to_have_value("Written by the admin, with a tpyo")
    await content.fill("   ")
    async with page.expect_response(lambda r: r.request.method == "POST") as refused:
        await page.get_by_role("button", name="Save").click()
    assert (await refused.value).status == 422
    await expect(page.locator('[data-error="content"]')).to_have_text("Content cannot be empty.")
    await vibetuner_screenshot(page, "3-validation-message")

    await content.fill("Written by the admin, with a typo fixed")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator('[data-admin-detail] [data-field="content"]')).to_have_text(
        "Written by the admin, with a typo fixed"
    )
    await vibetuner_screenshot(page, "4-saved")
    detail = page.url

    await page.goto("/admin")
    await page.locator('[data-admin-model="audit_log"]').click()
    entry = page.locator("[data-admin-row]", has_text="admin.update")
    await expect(entry).to_have_count(1)
    await expect(entry).to_contain_text(email)
    await vibetuner_screenshot(page, "5-audit-log")
    await entry.get_by_role("link", name="View").click()
    changes = page.locator('[data-admin-detail] [data-field="changes"]')
    await expect(changes).to_contain_text('"before": "Written by the admin, with a tpyo"')
    await expect(changes).to_contain_text('"after": "Written by the admin, with a typo fixed"')
    await vibetuner_screenshot(page, "6-audit-entry-diff")

    # Leave the feed as it was for the other tests: delete the post, through the admin.
    await page.goto(detail)
    await page.locator('a[href$="/delete"]').click()
    await page.get_by_role("button", name="Delete").click()
    await page.wait_for_url(lambda url: "/delete" not in url)
    await page.goto("/posts")
    await expect(page.get_by_text("Written by the admin, with a typo fixed")).to_have_count(0)
