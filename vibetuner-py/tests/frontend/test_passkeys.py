"""Passkeys end to end, in-process: real SecantusDB, real SMTP for the first sign-in, and a
software authenticator that signs real WebAuthn answers (issue #17, item 3)."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from tests.frontend.auth_support import HTML, browser, sign_in_by_link
from tests.frontend.passkey_support import (
    authenticator,
    register,
    registration_options,
    sign_in_with,
    stranger,
    token_of,
)
from tests.services.email_support import SMTPSink
from vibetuner.config import Settings
from vibetuner.data.models.passkey import Passkey
from vibetuner.frontend._static import IMMUTABLE
from vibetuner.services.passkeys import PasskeyFailed, relying_party, unavailable_here
from vibetuner.testing._webauthn import from_b64url

pytest_plugins = ["tests.services.email_support", "tests.frontend.auth_support"]

HTMX = {**HTML, "HX-Request": "true"}


async def _passkeys(email: str) -> list[Passkey]:
    from vibetuner.data.models.user import User

    user = await User.by_email(email)
    assert user is not None
    return await Passkey.find({"user_id": user.id}).to_list()


async def test_register_a_passkey_then_sign_in_with_it(app: FastAPI, smtp_sink: SMTPSink) -> None:
    device = authenticator()
    async with browser(app) as client:
        await sign_in_by_link(client, smtp_sink, "ada@example.com")
        added = await register(client, device, "Ada's laptop")
        assert added.status_code == 201, added.text
        assert added.json()["name"] == "Ada's laptop"
    [stored] = await _passkeys("ada@example.com")
    assert stored.sign_count == 0 and stored.backup_eligible and stored.backed_up
    assert stored.transports == ["internal", "hybrid"] and stored.last_used_at is None

    async with browser(app) as fresh:
        await fresh.get("/auth/login")
        before = fresh.cookies["vt_session"]
        signed = await sign_in_with(fresh, device)
        assert signed.status_code == 200, signed.text
        assert signed.json() == {"redirect": "/account"}
        assert fresh.cookies["vt_session"] != before, "the session id rotates on sign-in"
        assert "vt_device" in fresh.cookies, "the browser is remembered as for a magic link"
        account = await fresh.get("/account")
    assert account.status_code == 200 and "ada@example.com" in account.text
    [used] = await _passkeys("ada@example.com")
    assert used.sign_count == 1 and used.last_used_at is not None


async def test_the_account_page_lists_renames_and_removes_passkeys(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    device = authenticator()
    async with browser(app) as client:
        await sign_in_by_link(client, smtp_sink, "lin@example.com")
        profile = await client.get("/account")
        assert 'hx-get="/account/passkeys" hx-trigger="load"' in profile.text
        # The passkeys script is the framework's file, fetched once: not 5 KB inline per page.
        script = re.search(
            r'<script src="(/static/_vibetuner/[0-9a-f]{12}/js/passkeys\.js)" nonce="[^"]+" defer>',
            profile.text,
        )
        assert script and "PublicKeyCredential" not in profile.text
        served = await client.get(script.group(1))
        assert served.status_code == 200 and "PublicKeyCredential" in served.text
        assert served.headers["cache-control"] == IMMUTABLE
        assert "javascript" in served.headers["content-type"]
        empty = await client.get("/account/passkeys", headers=HTMX)
        assert "data-no-passkeys" in empty.text and "data-passkey-register" in empty.text
        assert "<html" not in empty.text, "htmx gets the section alone"
        assert (await register(client, device, "Phone")).status_code == 201
        assert (await register(client, device, "Key")).status_code == 201
        listed = await client.get("/account/passkeys")
        assert listed.text.index("Phone") < listed.text.index("Key")
        [phone, key] = await _passkeys("lin@example.com")

        token = await token_of(client, "/account/passkeys")
        form = await client.get(f"/account/passkeys/{phone.id}/edit", headers=HTMX)
        assert 'name="name" value="Phone"' in form.text
        blank = await client.post(
            f"/account/passkeys/{phone.id}/name", data={"name": "  ", "csrf_token": token},
            headers=HTMX,
        )  # fmt: skip
        assert blank.status_code == 422 and "Give the passkey a name" in blank.text
        renamed = await client.post(
            f"/account/passkeys/{phone.id}/name",
            data={"name": "Work phone", "csrf_token": token},
            headers=HTMX,
        )
        assert renamed.status_code == 200 and "Work phone" in renamed.text
        removed = await client.post(
            f"/account/passkeys/{key.id}/delete", data={"csrf_token": token}, headers=HTMX
        )
        assert removed.status_code == 200
        assert "Work phone" in removed.text and f"passkey-{key.id}" not in removed.text
    assert [p.name for p in await _passkeys("lin@example.com")] == ["Work phone"]
    async with browser(app) as other:
        refused = await sign_in_with(other, device, credential_id=from_b64url(key.credential_id))
    assert refused.status_code == 400 and refused.json()["problem"] == "unknown-credential"


async def test_a_user_without_passkeys_still_signs_in_by_magic_link(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    async with browser(app) as client:
        login = await client.get("/auth/login")
        assert "Use a passkey" in login.text and 'autocomplete="username webauthn"' in login.text
        assert "Email me a sign-in link" in login.text
        opened = await sign_in_by_link(client, smtp_sink, "nokeys@example.com")
        assert opened.status_code == 303
        page = await client.get("/account/passkeys")
    assert page.status_code == 200 and "No passkeys yet." in page.text
    assert await _passkeys("nokeys@example.com") == []
    async with browser(app) as visitor:
        unknown = await sign_in_with(visitor, stranger())
    assert unknown.status_code == 400 and "not registered here" in unknown.json()["detail"]


async def test_a_deactivated_user_cannot_sign_in_with_a_passkey(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    from vibetuner.services.users import set_active

    device = authenticator()
    async with browser(app) as client:
        await sign_in_by_link(client, smtp_sink, "gone@example.com")
        assert (await register(client, device)).status_code == 201
    await set_active("gone@example.com", False)
    async with browser(app) as client:
        refused = await sign_in_with(client, device)
        assert refused.status_code == 403 and refused.json()["problem"] == "inactive"
        assert (await client.get("/account")).status_code != 200


async def test_passkeys_need_a_name(app: FastAPI, smtp_sink: SMTPSink) -> None:
    async with browser(app) as client:
        await sign_in_by_link(client, smtp_sink, "named@example.com")
        _token, blank = await registration_options(client, "   ")
        _token, long = await registration_options(client, "x" * 61)
    assert blank.status_code == 422 and blank.json()["problem"] == "bad-name"
    assert long.status_code == 422 and "at most 60 characters" in long.json()["detail"]


async def test_passkeys_are_offered_only_at_the_relying_partys_host(app: FastAPI) -> None:
    """BASE_URL is http://testserver: a page opened at 127.0.0.1 shows no passkey button."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        login = await client.get("/auth/login", headers=HTML)
    assert login.status_code == 200
    assert "Use a passkey" not in login.text and 'autocomplete="email"' in login.text


def test_the_relying_party_comes_from_base_url(settings_env: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None, base_url="https://app.example.com/", project_name="App")  # type: ignore[call-arg]
    rp = relying_party(settings, "http://ignored:1")
    assert (rp.id, rp.origin, rp.name) == ("app.example.com", "https://app.example.com", "App")
    dev = Settings(_env_file=None)  # type: ignore[call-arg]
    assert relying_party(dev, "http://localhost:8123").origin == "http://localhost:8123"
    with pytest.raises(PasskeyFailed, match="open http://localhost:8123 instead"):
        relying_party(dev, "http://127.0.0.1:8123")
    with pytest.raises(PasskeyFailed, match="not an IP address"):
        relying_party(Settings(_env_file=None, base_url="http://192.0.2.1"), "")  # type: ignore[call-arg]
    prod = Settings(_env_file=None, environment="prod")  # type: ignore[call-arg]
    with pytest.raises(PasskeyFailed, match="BASE_URL"):
        relying_party(prod, "http://evil.example")
    assert unavailable_here(settings, "https://app.example.com") is None
    assert unavailable_here(settings, "https://other.example.com") == (
        "Passkeys work at https://app.example.com."
    )


def test_the_dev_server_is_opened_at_localhost(settings_env: pytest.MonkeyPatch) -> None:
    from vibetuner.config import dev_origin

    assert dev_origin("127.0.0.1", 8000) == "http://localhost:8000"
    assert dev_origin("0.0.0.0", 8001) == "http://localhost:8001"
    assert dev_origin("::1", 8000) == "http://localhost:8000"
    assert dev_origin("10.0.0.5", 8000) == "http://10.0.0.5:8000"
    assert Settings(_env_file=None).public_url == "http://localhost:8000"  # type: ignore[call-arg]
