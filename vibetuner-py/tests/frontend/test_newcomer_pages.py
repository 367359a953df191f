"""What a newcomer sees on the framework's pages: the app's own layout (its navigation) on
every one, an error said once, the dev outbox named as the project names it and pointed to
from "Check your email", and an account page with something in place of a missing name and
picture."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.frontend.auth_support import (
    HTML,
    browser,
    csrf_from,
    request_link,
    running,
    sign_in_by_link,
)
from tests.services.email_support import SMTPSink
from vibetuner import create_app
from vibetuner.config import get_settings, reset_settings
from vibetuner.frontend._middleware import setup_middleware
from vibetuner.services.email import reset_email_service

pytest_plugins = ["tests.services.email_support", "tests.frontend.auth_support"]

APP_LAYOUT = """{% extends "base/skeleton.html.jinja" %}
{% block nav %}<nav><a href="/posts" data-app-nav>Posts</a></nav>{% endblock %}
"""


def _main(page: httpx.Response) -> str:
    """The page's <main>: what it says, without the <head> and the layout around it."""
    found = re.search(r"<main\b.*?</main>", page.text, re.S)
    assert found, page.text[:500]
    return found.group(0)


def local(app: FastAPI) -> httpx.AsyncClient:
    """A browser on this machine: dev pages answer only at localhost."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://localhost", headers=HTML)


@pytest.fixture
async def app(auth_env: pytest.MonkeyPatch) -> AsyncIterator[FastAPI]:
    """The framework's pages in a project whose layout adds a navigation link."""
    layout = get_settings().templates_dir / "base" / "layout.html.jinja"
    layout.parent.mkdir(parents=True)
    layout.write_text(APP_LAYOUT)
    application = create_app()
    setup_middleware(application)
    async with running(application):
        yield application


@pytest.fixture
async def dev_app(auth_env: pytest.MonkeyPatch) -> AsyncIterator[FastAPI]:
    """Development as `vibetuner run dev` has it: DEBUG on, mail kept in the outbox."""
    auth_env.setenv("DEBUG", "true")
    auth_env.setenv("EMAIL_PROVIDER", "outbox")
    reset_settings()
    reset_email_service()
    application = create_app()
    setup_middleware(application)
    async with running(application):
        yield application


async def test_every_framework_page_carries_the_apps_navigation(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    async with browser(app) as client:
        pages = {
            "sign in": await client.get("/auth/login"),
            "check your email": await request_link(client, "nav@example.com"),
            "bad link": await client.get("/auth/magic/not-a-token"),
            "not found": await client.get("/no-such-page"),
        }
        await sign_in_by_link(client, smtp_sink, "nav@example.com")
        pages["account"] = await client.get("/account")
        pages["sessions"] = await client.get("/account/sessions")
        pages["sign out"] = await client.get("/auth/logout")
    for name, page in pages.items():
        assert "data-app-nav" in page.text, f"the {name} page lacks the app's navigation"


async def test_dev_pages_carry_it_too(dev_app: FastAPI) -> None:
    layout = get_settings().templates_dir / "base" / "layout.html.jinja"
    layout.parent.mkdir(parents=True)
    layout.write_text(APP_LAYOUT)
    async with local(dev_app) as client:
        outbox = await client.get("/dev/outbox")
    assert outbox.status_code == 200 and "data-app-nav" in outbox.text


async def test_the_404_page_says_it_once(app: FastAPI) -> None:
    async with browser(app) as client:
        page = await client.get("/no-such-page")
        partial = await client.get("/no-such-page", headers={"HX-Request": "true"})
    main = _main(page)
    assert page.status_code == 404 and "404" in main
    assert main.count("does not exist") == 1
    assert "Not Found" not in main, "the title would repeat the sentence below it"
    assert partial.text.count("does not exist") == 1 and "Not Found" not in partial.text


async def test_an_error_with_several_messages_keeps_its_title(app: FastAPI) -> None:
    @app.get("/pair")
    async def pair(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    async with browser(app) as client:
        page = await client.get("/pair?a=x&b=y")
    main = _main(page)
    assert page.status_code == 422 and "Unprocessable Content" in main
    assert main.count("data-message") == 2


async def test_the_outbox_names_its_folder_as_the_project_does(dev_app: FastAPI) -> None:
    root = get_settings().project_root
    async with local(dev_app) as client:
        page = await client.get("/dev/outbox")
    assert page.status_code == 200
    assert "<code>.vibetuner/outbox</code>" in page.text
    assert str(root) not in page.text, "the server's own path is no business of the page"


async def test_check_your_email_points_to_the_outbox_in_dev(dev_app: FastAPI) -> None:
    async with local(dev_app) as client:
        sent = await request_link(client, "dev@example.com")
        login = await client.get("/auth/login")
        partial = await client.post(
            "/auth/magic-link",
            data={"email": "dev@example.com", "csrf_token": csrf_from(login.text)},
            headers={"HX-Request": "true"},
        )
        outbox = await client.get("/dev/outbox")
    for page in (sent, partial):
        assert page.status_code == 200 and "data-dev-outbox" in page.text
        assert 'href="/dev/outbox"' in page.text
    assert "dev@example.com" in outbox.text, "the link leads to the mail"


async def test_check_your_email_names_no_outbox_where_mail_is_sent(
    app: FastAPI, auth_env: pytest.MonkeyPatch
) -> None:
    auth_env.setenv("DEBUG", "true")  # a developer sending through a real SMTP server
    reset_settings()
    async with browser(app) as client:
        sent = await request_link(client, "smtp@example.com")
    assert sent.status_code == 200 and "Check your email" in sent.text
    assert "/dev/outbox" not in sent.text


async def test_the_account_page_fills_a_missing_name_and_picture(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    async with browser(app) as client:
        await sign_in_by_link(client, smtp_sink, "quinn@example.com")
        before = await client.get("/account")
        token = re.search(r'"X-CSRF-Token"\] = "([^"]+)"', before.text)
        assert token
        hx = {"HX-Request": "true", "X-CSRF-Token": token.group(1)}
        await client.post("/account/name", data={"name": "Ada"}, headers=hx)
        after = await client.get("/account")
    main = _main(before)
    initial = re.search(r"data-avatar-initial>.*?<span[^>]*>(.*?)</span>", main, re.S)
    assert initial and initial.group(1) == "Q", "the email's first letter stands in"
    assert "data-no-name" in main and "Add your name" in main
    assert "—" not in main and "data-name></span>" not in main
    main = _main(after)
    assert "data-name>Ada</span>" in main and "Add your name" not in main
    initial = re.search(r"data-avatar-initial>.*?<span[^>]*>(.*?)</span>", main, re.S)
    assert initial and initial.group(1) == "A"


def test_the_framework_ships_a_layout_every_page_extends() -> None:
    """Apps replace base/layout.html.jinja; a page extending the skeleton would skip theirs."""
    templates = Path(__file__).resolve().parents[2] / "src" / "vibetuner" / "templates"
    pages = [p for p in templates.rglob("*.html.jinja") if p.parts[-2] not in ("base", "emails")]
    assert pages
    for page in pages:
        assert '{% extends "base/skeleton.html.jinja" %}' not in page.read_text(), page
