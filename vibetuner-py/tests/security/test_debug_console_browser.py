"""In Chromium: an admin signs in by magic link, and the prod debug console refuses a
forged unlock, opens with a real one, and refuses that one the second time (replay).
Skipped without Chromium, except under VIBETUNER_REQUIRE_ALL=1."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator

import pytest
import uvicorn

from tests.services.email_support import SMTPSink
from vibetuner import create_app
from vibetuner.config import get_settings, reset_settings
from vibetuner.frontend._middleware import setup_middleware
from vibetuner.server._net import free_port
from vibetuner.services.unlock import issue_token
from vibetuner.services.users import create_user
from vibetuner.testing._live import CHROMIUM_ARGS, chromium

pytest_plugins = ["tests.services.email_support", "tests.frontend.auth_support"]


@pytest.fixture
async def live_prod(auth_env: pytest.MonkeyPatch, no_app_tasks: None) -> AsyncIterator[str]:
    """The framework's app in prod, served by uvicorn on a free port at localhost."""
    port = free_port()
    url = f"http://localhost:{port}"
    auth_env.setenv("ENVIRONMENT", "prod")
    auth_env.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    auth_env.setenv("BASE_URL", url)
    auth_env.setenv("FORCE_HTTPS", "false")  # plain HTTP on this machine, no TLS
    reset_settings()
    app = create_app()
    setup_middleware(app)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "uvicorn stopped before serving"
        await asyncio.sleep(0.02)
    yield url
    server.should_exit = True
    await serving


def _mailed_link(sink: SMTPSink, count: int) -> str:
    assert len(sink.received) == count, "the sign-in email is sent before the page answers"
    message = sink.received[-1].message
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    body = text.get_payload(decode=True).decode()  # type: ignore[union-attr]
    match = re.search(r"https?://\S+/auth/magic/\S+", body)
    assert match
    return match.group(0)


async def test_forged_and_replayed_unlocks_are_refused_in_the_browser(
    live_prod: str, smtp_sink: SMTPSink
) -> None:
    from playwright import async_api as playwright_api  # the testing extra: browser tests only

    executable = chromium()
    await create_user("boss@example.com", roles=["admin"])
    key = get_settings().secret_key.get_secret_value()
    token, _ = issue_token(key, 10)
    forged = issue_token(key + "-not-the-key", 10)[0]
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS)
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{live_prod}/auth/login")
            await page.fill('input[name="email"]', "boss@example.com")
            sent = len(smtp_sink.received)
            async with page.expect_response(f"{live_prod}/auth/magic-link"):
                await page.get_by_role("button", name="Email me a sign-in link").click()
            link = _mailed_link(smtp_sink, sent + 1)
            await page.goto(link)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(f"{live_prod}/")

            locked = await page.goto(f"{live_prod}/_debug")
            assert locked is not None and locked.status == 403

            refused = await page.goto(f"{live_prod}/_debug/unlock?token={forged}")
            assert refused is not None and refused.status == 403
            assert "not valid" in await page.content()

            opened = await page.goto(f"{live_prod}/_debug/unlock?token={token}")
            assert opened is not None and opened.status == 200
            assert page.url == f"{live_prod}/_debug"
            await page.get_by_role("tab", name="Settings").click()
            await page.wait_for_selector('#debug-panel[data-section="settings"]')
            assert "SECRET_KEY" in await page.content()
            assert key not in await page.content()

            replayed = await page.goto(f"{live_prod}/_debug/unlock?token={token}")
            assert replayed is not None and replayed.status == 403
            assert "already used" in await page.content()
        finally:
            await browser.close()
