"""Lazy strings: defined once at import, shown in each request's language (validation messages)."""

from __future__ import annotations

import re

import pytest

from tests.i18n.conftest import NO_SHOUTING, AppFactory, TitleIn, browser
from vibetuner.config import reset_settings
from vibetuner.i18n import LazyString, lazy_gettext, use_locale


def errors_of(html: str) -> list[str]:
    return re.findall(r"<p data-error>([^<]*)</p>", html)


async def test_validator_messages_follow_the_request_language(make_app: AppFactory) -> None:
    async with make_app() as app:
        async with browser(app, accept_language="es") as client:
            shouting = await client.post("/titles", data={"title": "HOLA"})
            too_long = await client.post("/titles", data={"title": "x" * 11})
            empty = await client.post("/titles", data={"title": ""})
            fine = await client.post("/titles", data={"title": "hola"})
        async with browser(app, accept_language="en") as client:
            english = await client.post("/titles", data={"title": "HELLO"})
    assert shouting.status_code == 422 and errors_of(shouting.text) == [
        "Título: Por favor, no grites."
    ]
    assert errors_of(too_long.text) == ["Título debe tener como máximo 10 caracteres."]
    assert errors_of(empty.text) == ["Título no puede estar vacío."]
    assert fine.status_code == 200
    assert errors_of(english.text) == ["Title: Please do not shout."]


async def test_lazy_string_behaves_like_its_text(make_app: AppFactory) -> None:
    async with make_app():
        greeting = lazy_gettext("Quarterly report")
        assert isinstance(NO_SHOUTING, LazyString) and "shout" in NO_SHOUTING
        assert str(greeting) == "Quarterly report" and greeting == "Quarterly report"
        with use_locale("es"):
            assert str(greeting) == "Informe trimestral"
            assert greeting + "!" == "Informe trimestral!" and len(greeting) == 18
            assert {greeting: 1} == {"Informe trimestral": 1}
        assert repr(greeting) == "lazy('Quarterly report')"
        assert TitleIn(title="calm").title == "calm"


async def test_outside_a_request_the_language_follows_the_settings(
    make_app: AppFactory, settings_env: pytest.MonkeyPatch
) -> None:
    """`_()` outside a request speaks the default language of the settings in force, not of
    the settings the catalogs were first built for (a test after a Spanish one got Spanish
    error pages)."""
    report = lazy_gettext("Quarterly report")
    async with make_app(default="es"):
        assert str(report) == "Informe trimestral"
    settings_env.setenv("DEFAULT_LANGUAGE", "en")
    reset_settings()
    assert str(report) == "Quarterly report"
