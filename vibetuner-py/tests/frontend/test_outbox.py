"""`/dev/outbox`: list, detail, raw HTML under a sandbox CSP, and 404 for anything else."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from vibetuner.config import get_settings, reset_settings
from vibetuner.frontend._routes import outbox
from vibetuner.services.email import EmailMessage, OutboxProvider, outbox_dir


def _message(subject: str) -> EmailMessage:
    return EmailMessage(
        to=["ada@example.com"],
        subject=subject,
        html='<p>Hello</p><a href="http://x/magic?t=1&amp;u=2">Sign in</a><script>bad()</script>',
        text="Sign in: http://x/magic?t=1&u=2 <ok>",
        from_="App <no-reply@app.test>",
        headers={"X-Tag": "signin"},
    )


@pytest.fixture
async def client(settings_env: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    settings_env.setenv("DEBUG", "true")
    reset_settings()
    app = FastAPI()
    app.include_router(outbox.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def _write(*subjects: str) -> list[str]:
    provider = OutboxProvider(outbox_dir(get_settings()))
    return [provider.write(_message(subject)).stem for subject in subjects]


async def test_empty_outbox(client: httpx.AsyncClient) -> None:
    response = await client.get("/dev/outbox")
    assert response.status_code == 200
    assert "No emails yet" in response.text


async def test_list_is_newest_first(client: httpx.AsyncClient) -> None:
    first, second = _write("First <one>", "Second")
    response = await client.get("/dev/outbox")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert "First &lt;one&gt;" in page and "ada@example.com" in page
    assert page.index(f"/dev/outbox/{second}") < page.index(f"/dev/outbox/{first}")


async def test_detail_shows_headers_text_and_a_sandboxed_frame(
    client: httpx.AsyncClient,
) -> None:
    [message_id] = _write("Your link")
    page = (await client.get(f"/dev/outbox/{message_id}")).text
    assert "Your link" in page
    assert "App &lt;no-reply@app.test&gt;" in page and "X-Tag" in page
    assert "Sign in: http://x/magic?t=1&amp;u=2 &lt;ok&gt;" in page
    assert f'src="/dev/outbox/{message_id}/html"' in page
    assert "<iframe" in page and 'sandbox="' in page
    assert "<script>bad()</script>" not in page


async def test_html_part_is_served_under_a_sandbox_csp(client: httpx.AsyncClient) -> None:
    [message_id] = _write("Your link")
    response = await client.get(f"/dev/outbox/{message_id}/html")
    assert response.status_code == 200
    assert '<a href="http://x/magic?t=1&amp;u=2">' in response.text
    csp = response.headers["content-security-policy"]
    assert csp.startswith("sandbox") and "default-src 'none'" in csp
    assert "script-src" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_raw_download(client: httpx.AsyncClient) -> None:
    [message_id] = _write("Raw")
    response = await client.get(f"/dev/outbox/{message_id}/raw")
    assert response.status_code == 200
    assert response.headers["content-type"] == "message/rfc822"
    assert b"Subject: Raw" in response.content


@pytest.mark.parametrize(
    "path",
    [
        "/dev/outbox/20000101T000000000000Z-00000000",
        "/dev/outbox/nope",
        "/dev/outbox/nope/html",
        "/dev/outbox/nope/raw",
        "/dev/outbox/..%2Fsecret",
        "/dev/outbox/%2E%2E%2Fsecret/raw",
        "/dev/outbox/..%2F..%2Fetc%2Fpasswd/html",
        "/dev/outbox/%2Fetc%2Fpasswd",
    ],
)
async def test_unknown_or_traversal_ids_are_404(client: httpx.AsyncClient, path: str) -> None:
    _write("Exists")
    secret = get_settings().state_dir / "secret.eml"
    secret.write_text("Subject: secret\n\nsecret")
    response = await client.get(path)
    assert response.status_code == 404
    assert "Subject: secret" not in response.text


async def test_hidden_outside_debug(settings_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings_env.setenv("DEBUG", "false")
    reset_settings()
    app = FastAPI()
    app.include_router(outbox.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        assert (await c.get("/dev/outbox")).status_code == 404
        settings_env.setenv("DEBUG", "true")
        settings_env.setenv("ENVIRONMENT", "prod")
        reset_settings()
        assert (await c.get("/dev/outbox")).status_code == 404
