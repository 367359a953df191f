"""Sign-in fixtures shared by the auth tests: the app with real SMTP, SecantusDB, local
OIDC and GitHub, and helpers that sign in the way a person does.

Not a conftest.py: modules load it with `pytest_plugins = ["tests.frontend.auth_support"]`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from tests.services.email_support import SMTPSink
from vibetuner import create_app
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.frontend._middleware import setup_middleware
from vibetuner.testing import MAGIC_CONFIRM, sign_in_form_of
from vibetuner.testing.idp import LocalGitHub, LocalOIDCProvider

BASE = "http://testserver"
HTML = {"Accept": "text/html"}


@pytest.fixture
def idp() -> Iterator[LocalOIDCProvider]:
    from vibetuner.testing.idp import oidc_provider

    with oidc_provider() as provider:
        yield provider


@pytest.fixture
def github() -> Iterator[LocalGitHub]:
    from vibetuner.testing.idp import github_server

    clients = {
        "gh": {"secret": "gh-secret", "redirect_uris": [f"{BASE}/auth/oauth/github/callback"]}
    }
    with github_server(clients) as server:
        yield server


@pytest.fixture
def auth_env(
    email_env: pytest.MonkeyPatch,
    vibetuner_mongo: EmbeddedMongo,
    smtp_sink: SMTPSink,
    idp: LocalOIDCProvider,
    github: LocalGitHub,
) -> pytest.MonkeyPatch:
    from vibetuner.services.ratelimit import reset_rate_limit_store
    from vibetuner.services.sessions import get_session_store

    env = email_env
    env.setenv("DATABASE_URL", f"{vibetuner_mongo.url}_auth_{uuid.uuid4().hex[:8]}")
    env.setenv("BASE_URL", BASE)
    env.setenv("EMAIL_PROVIDER", "smtp")
    env.setenv("SMTP_HOST", smtp_sink.host)
    env.setenv("SMTP_PORT", str(smtp_sink.port))
    env.setenv("SMTP_SECURITY", "none")
    env.setenv("MAIL_FROM", "App <no-reply@app.test>")
    client = idp.register_client([f"{BASE}/auth/oauth/acme/callback"])
    provider = {"name": "acme", "title": "Acme ID", "issuer": idp.issuer,
                "client_id": client.client_id, "client_secret": client.client_secret}  # fmt: skip
    env.setenv("OIDC_PROVIDERS", json.dumps([provider]))
    env.setenv("GITHUB_CLIENT_ID", "gh")
    env.setenv("GITHUB_CLIENT_SECRET", "gh-secret")
    env.setenv("GITHUB_URL", github.url)
    env.setenv("GITHUB_API_URL", github.api_url)
    get_session_store.cache_clear()
    reset_rate_limit_store()
    yield env
    get_session_store.cache_clear()
    reset_rate_limit_store()


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def app(auth_env: pytest.MonkeyPatch) -> AsyncIterator[FastAPI]:
    application = create_app()
    setup_middleware(application)
    async with running(application):
        yield application


def browser(app: FastAPI, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE, headers=HTML)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has a csrf_input()"
    return match.group(1)


async def request_link(
    client: httpx.AsyncClient, email: str, next_url: str = "/"
) -> httpx.Response:
    page = await client.get(f"/auth/login?next={next_url}")
    form = {"email": email, "next": next_url, "csrf_token": csrf_from(page.text)}
    return await client.post("/auth/magic-link", data=form, headers=HTML)


def link_in(sink: SMTPSink, index: int = -1) -> str:
    message = sink.received[index].message
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    body = text.get_payload(decode=True).decode()  # type: ignore[union-attr]
    match = re.search(r"https?://\S+/auth/magic/\S+", body)
    assert match
    return match.group(0)


async def open_link(client: httpx.AsyncClient, link: str) -> httpx.Response:
    """Open a mailed link and press the confirm page's button, as a person does; a link
    that does not work answers the GET, and that answer is returned."""
    page = await client.get(link.removeprefix(BASE))
    if page.status_code != 200:
        return page
    return await client.post(MAGIC_CONFIRM, data=sign_in_form_of(page.text))


async def sign_in_by_link(
    client: httpx.AsyncClient, sink: SMTPSink, email: str, next_url: str = "/"
) -> httpx.Response:
    await request_link(client, email, next_url)
    return await open_link(client, link_in(sink))
