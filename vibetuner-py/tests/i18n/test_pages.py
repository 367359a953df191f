"""Spanish pages: the app's and the framework's strings, dates, numbers, errors and emails."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.i18n.conftest import AppFactory, browser, html_lang, sign_in
from tests.services.ratelimit_support import steady_rate_limits
from vibetuner.i18n import format_date, format_number, ngettext, use_locale
from vibetuner.testing import sign_in_form_of

SPANISH_DATE = re.compile(r"\d{1,2} (ene|feb|mar|abr|may|jun|jul|ago|sept?|oct|nov|dic) \d{4}")


async def test_app_page_in_spanish_and_english(make_app: AppFactory) -> None:
    async with make_app() as app:
        async with browser(app, accept_language="es-ES") as client:
            spanish = await client.get("/report")
        async with browser(app, accept_language="en-GB") as client:
            english = await client.get("/report")
    assert spanish.status_code == 200 and html_lang(spanish) == "es"
    for fragment in (
        "<h1 data-title>Informe trimestral</h1>",
        "<p data-day>5 de marzo de 2026</p>",
        "<p data-amount>1.234.567,5</p>",
        "<p data-count>3 publicaciones nuevas</p>",
        ">Entrar</a>",  # the app's catalog overrides the framework's "Iniciar sesión"
        'aria-label="Cuenta"',  # the framework's own Spanish
        'aria-current="true">Español</button>',
    ):
        assert fragment in spanish.text, fragment
    for fragment in ("Quarterly report", "March 5, 2026", "1,234,567.5", "3 new posts"):
        assert fragment in english.text, fragment


async def test_framework_pages_in_spanish_with_dates(make_app: AppFactory) -> None:
    async with make_app() as app, browser(app, accept_language="es") as client:
        await sign_in(client, "dora@example.com")
        sessions = await client.get("/account/sessions")
        profile = await client.get("/account")
        missing = await client.get("/nowhere", headers={"Accept": "text/html"})
    assert (
        sessions.status_code == 200
        and '<h1 class="text-3xl font-bold">Sesiones activas' in sessions.text
    )
    signed_in = re.search(r"data-signed-in>([^<]+)<", sessions.text)
    assert signed_in and signed_in.group(1).startswith("Sesión iniciada el ")
    assert SPANISH_DATE.search(signed_in.group(1)), signed_in.group(1)
    assert "Cerrar sesión en todas partes" in sessions.text
    assert "Tu perfil" in profile.text and "Correo electrónico" in profile.text
    assert missing.status_code == 404 and html_lang(missing) == "es"
    assert "No encontrado" in missing.text and "La página que buscas no existe." in missing.text


async def test_sign_in_flow_and_email_in_spanish(make_app: AppFactory, tmp_path: Path) -> None:
    async with make_app() as app, browser(app, accept_language="es") as client:
        login = await client.get("/auth/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token
        bad = await client.post(
            "/auth/magic-link", data={"email": "nope", "csrf_token": token.group(1)},
            headers={"Accept": "text/html"},
        )  # fmt: skip
        sent = await client.post(
            "/auth/magic-link", data={"email": "eva@example.com", "csrf_token": token.group(1)}
        )
    assert "Envíame un enlace para iniciar sesión" in login.text
    assert bad.status_code == 422 and "Escribe una dirección de correo válida" in bad.text
    assert sent.status_code == 200 and "Revisa tu correo" in sent.text
    (eml,) = sorted((tmp_path / ".vibetuner" / "outbox").glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Tu enlace para iniciar sesión en Vibetuner App"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Inicia sesión en Vibetuner App con este enlace" in text
    assert "durante 15 minutos" in text


async def test_rate_limit_message_in_spanish(
    make_app: AppFactory, settings_env: pytest.MonkeyPatch
) -> None:
    settings_env.setenv("RATE_LIMIT_LOGIN_IP", "1/minute")
    async with make_app() as app, browser(app, accept_language="es") as client:
        with steady_rate_limits():
            for _ in range(2):
                answer = await client.post("/auth/magic-link", data={"email": "fe@example.com"})
    assert answer.status_code == 429
    assert re.fullmatch(
        r"Demasiados intentos\. Inténtalo de nuevo en \d+ segundos?\.", answer.json()["detail"]
    )


async def test_python_helpers_follow_use_locale(make_app: AppFactory) -> None:
    async with make_app():
        when = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
        with use_locale("es-AR"):  # region falls back to es
            assert format_date(when, "long") == "28 de noviembre de 2026"
            assert format_number(1234.5) == "1.234,5"
            assert ngettext("%(num)d new post", "%(num)d new posts", 1) % {"num": 1} == (
                "1 publicación nueva"
            )
        assert format_date(when, "long") == "November 28, 2026"
        assert format_number(1234.5, locale="es") == "1.234,5"


async def test_signing_in_from_a_prefixed_page_comes_back_to_it(
    make_app: AppFactory, tmp_path: Path
) -> None:
    async with make_app(prefix=True) as app, browser(app, accept="text/html") as client:
        gate = await client.get("/es/account")
        login = await client.get(gate.headers["location"])
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token
        form = {"email": "lu@example.com", "csrf_token": token.group(1), "next": "/es/account"}
        assert (await client.post("/es/auth/magic-link", data=form)).status_code == 200
        (eml,) = sorted((tmp_path / ".vibetuner" / "outbox").glob("*.eml"))
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        link = re.search(r"https?://[^/\s]+(/\S+/auth/magic/\S+)", text)
        assert link and link.group(1).startswith("/es/auth/magic/"), text
        async with browser(app, accept="text/html") as elsewhere:  # the phone's mail app
            on_another_device = await elsewhere.get(link.group(1))
        page = await client.get(link.group(1))
        action = re.search(r'action="([^"]*/auth/magic)"', page.text)
        assert page.status_code == 200 and action, page.text[-500:]
        opened = await client.post(action.group(1), data=sign_in_form_of(page.text))
        account = await client.get(opened.headers["location"])
    assert gate.status_code == 303
    assert gate.headers["location"] == "/es/auth/login?next=/es/account"
    assert html_lang(login) == "es" and 'name="next" value="/es/account"' in login.text
    assert html_lang(on_another_device) == "es", "the link keeps the page's language"
    assert opened.status_code == 303 and opened.headers["location"] == "/es/account"
    assert account.status_code == 200 and html_lang(account) == "es"


async def test_upload_errors_in_spanish(make_app: AppFactory) -> None:
    from vibetuner.services.storage import set_storage

    set_storage(None)
    async with make_app() as app, browser(app, accept_language="es") as client:
        await sign_in(client, "pau@example.com", locale="es")
        page = await client.get("/account")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        text_file = await client.post(
            "/account/avatar",
            data={"csrf_token": token.group(1)},
            files={"avatar": ("notes.txt", b"hello", "text/plain")},
            headers={"HX-Request": "true", "Accept": "text/html"},
        )
        empty = await client.post(
            "/account/avatar",
            data={"csrf_token": token.group(1)},
            files={"avatar": ("me.png", b"", "image/png")},
        )
    set_storage(None)
    assert text_file.status_code == 415
    assert "Aquí no se aceptan archivos text/plain. Se aceptan: GIF, JPEG" in text_file.text
    assert "<html" not in text_file.text, "htmx gets the avatar block back"
    assert empty.status_code == 400 and "El archivo está vacío" in empty.text
