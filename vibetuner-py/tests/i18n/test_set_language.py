"""The language switcher's POST: cookie for everyone, the account for signed-in users."""

from __future__ import annotations

import re

from tests.i18n.conftest import AppFactory, browser, html_lang, sign_in
from vibetuner.testing import csrf_token_of


async def test_visitor_switches_with_a_cookie(make_app: AppFactory) -> None:
    async with make_app() as app, browser(app, accept_language="en") as client:
        page = await client.get("/report")
        assert 'action="/i18n/language"' in page.text
        assert 'name="next" value="/report"' in page.text
        switched = await client.post(
            "/i18n/language", data={"language": "es", "next": "/report?x=1"}
        )
        after = await client.get("/report")
        unknown = await client.post("/i18n/language", data={"language": "klingon"})
        evil = await client.post(
            "/i18n/language", data={"language": "en", "next": "https://evil.example/"}
        )
        empty = await client.post("/i18n/language", headers={"Accept": "text/html"})
    assert switched.status_code == 303 and switched.headers["location"] == "/report?x=1"
    cookie = switched.headers["set-cookie"]
    assert cookie.startswith("vt_lang=es;") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert html_lang(after) == "es" and "Informe trimestral" in after.text
    assert evil.status_code == 303 and evil.headers["location"] == "/"
    assert unknown.status_code == 400
    assert unknown.json() == {"detail": "Ese idioma no está disponible."}, "said in Spanish"
    assert empty.status_code == 400 and "That language is not available." in empty.text


async def test_signed_in_user_switch_needs_csrf_and_is_remembered(make_app: AppFactory) -> None:
    from vibetuner.data.models.user import User

    async with make_app() as app:
        async with browser(app, accept_language="en") as client:
            await sign_in(client, "gil@example.com")
            page = await client.get("/account")
            forged = await client.post("/i18n/language", data={"language": "es"})
            form = {"language": "es", "next": "/account", "csrf_token": csrf_token_of(page.text)}
            switched = await client.post("/i18n/language", data=form)
            after = await client.get("/account")
        user = await User.by_email("gil@example.com")
        async with browser(app, accept_language="en") as other_device:
            await sign_in(other_device, "gil@example.com", locale="es")
            elsewhere = await other_device.get("/account")
    assert forged.status_code == 403
    assert switched.status_code == 303 and switched.headers["location"] == "/account"
    assert user is not None and user.locale == "es"
    assert html_lang(after) == "es" and "Tu perfil" in after.text
    assert "vt_lang" not in other_device.cookies
    assert html_lang(elsewhere) == "es", "the choice follows the account, not the browser"


async def test_switching_with_url_prefixes_moves_to_the_other_prefix(make_app: AppFactory) -> None:
    async with make_app(prefix=True) as app, browser(app) as client:
        page = await client.get("/es/report")
        to_english = await client.post(
            "/i18n/language", data={"language": "en", "next": "/es/report"}
        )
        to_spanish = await client.post("/i18n/language", data={"language": "es", "next": "/report"})
        htmx = await client.post(
            "/i18n/language",
            data={"language": "es", "next": "/"},
            headers={"HX-Request": "true"},
        )
    assert re.search(r'name="next" value="/report"', page.text), "next is the unprefixed path"
    assert to_english.headers["location"] == "/report"
    assert to_spanish.headers["location"] == "/es/report"
    assert htmx.status_code == 204 and htmx.headers["hx-redirect"] == "/es/"
