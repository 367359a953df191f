"""A small app with its own templates and Spanish catalog, served in-process over real HTTP
semantics (httpx ASGI transport) against a real SecantusDB."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Form, Request
from pydantic import BaseModel, Field, ValidationError, field_validator
from starlette.responses import Response

from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.i18n import lazy_gettext
from vibetuner.i18n._messages import Layout, compile_catalogs, extract, init

BASE = "http://testserver"
REPORT = """{% extends "base/skeleton.html.jinja" %}
{% block content %}
<h1 data-title>{{ _("Quarterly report") }}</h1>
<p data-day>{{ day | format_date("long") }}</p>
<p data-amount>{{ amount | format_number }}</p>
<p data-count>{{ ngettext("%(num)d new post", "%(num)d new posts", count) }}</p>
<a data-link href="{{ lang_url('/report') }}">{{ _("Again") }}</a>
{% endblock %}
"""
FORM = """{% extends "base/skeleton.html.jinja" %}
{% block content %}{% for error in errors %}<p data-error>{{ error }}</p>{% endfor %}{% endblock %}
"""
PAGES = """from vibetuner.i18n import N_, lazy_gettext

NO_SHOUTING = lazy_gettext("Please do not shout.")
LABELS = (N_("Title"),)  # field names, which validation messages translate
"""
SPANISH = {
    "Quarterly report": "Informe trimestral",
    "Again": "Otra vez",
    "Please do not shout.": "Por favor, no grites.",
    "Title": "Título",
    "Sign in": "Entrar",  # the app's catalog wins over the framework's ("Iniciar sesión")
}
SPANISH_PLURAL = ("%(num)d publicación nueva", "%(num)d publicaciones nuevas")

NO_SHOUTING = lazy_gettext("Please do not shout.")


class TitleIn(BaseModel):
    """A form whose messages are lazy strings, defined once at import time."""

    title: Annotated[str, Field(min_length=1, max_length=10)]

    @field_validator("title")
    @classmethod
    def _quiet(cls, value: str) -> str:
        if value.isupper():
            raise ValueError(NO_SHOUTING)
        return value


def write_project(root: Path) -> Layout:
    """templates/, src/ and a compiled Spanish catalog, made with the i18n tooling itself."""
    (root / "templates").mkdir(exist_ok=True)
    (root / "templates" / "report.html.jinja").write_text(REPORT)
    (root / "templates" / "form.html.jinja").write_text(FORM)
    (root / "src" / "app").mkdir(parents=True, exist_ok=True)
    (root / "src" / "app" / "pages.py").write_text(PAGES)
    layout = Layout.for_project(root)
    extract(layout)
    po = init(layout, "es")
    translate(po, SPANISH, {"%(num)d new post": SPANISH_PLURAL})
    compile_catalogs(layout)
    return layout


def translate(po: Path, strings: dict[str, str], plurals: dict[str, tuple[str, ...]]) -> None:
    """Fill a .po file's translations, as a translator would."""
    from babel.messages.pofile import read_po, write_po

    with po.open("rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        if key in plurals:
            forms = plurals[key]
            message.string = (*forms, forms[-1])[: catalog.num_plurals]
        elif key in strings:
            message.string = strings[key]
    catalog.add("Sign in", strings["Sign in"])  # not in the app's templates: a pure override
    with po.open("wb") as handle:
        write_po(handle, catalog)


def build_app() -> FastAPI:
    from vibetuner import create_app
    from vibetuner.frontend._errors import validation_messages
    from vibetuner.frontend._middleware import setup_middleware
    from vibetuner.frontend._templating import render_template

    app = create_app()
    setup_middleware(app)

    @app.get("/report")
    async def report(request: Request) -> Response:
        context = {"day": date(2026, 3, 5), "amount": 1234567.5, "count": 3}
        return render_template(request, "report.html.jinja", context)

    @app.post("/titles")
    async def titles(request: Request, title: Annotated[str, Form()] = "") -> Response:
        try:
            TitleIn(title=title)
        except ValidationError as exc:
            context = {"errors": validation_messages(exc.errors())}
            return render_template(request, "form.html.jinja", context, status_code=422)
        return Response("ok")

    return app


AppFactory = Callable[..., AbstractAsyncContextManager[FastAPI]]


@pytest.fixture
def make_app(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo, tmp_path: Path
) -> AppFactory:
    """`async with make_app(languages=["en", "es"], prefix=False) as app:` a started app."""
    from vibetuner.services.ratelimit import reset_rate_limit_store
    from vibetuner.services.sessions import get_session_store

    write_project(tmp_path)

    @asynccontextmanager
    async def started(
        languages: tuple[str, ...] = ("en", "es"), prefix: bool = False, default: str = "en"
    ) -> AsyncIterator[FastAPI]:
        from vibetuner import rendering
        from vibetuner.config import reset_settings
        from vibetuner.frontend import _templating
        from vibetuner.services.email import reset_email_service

        env = settings_env
        env.setenv("DATABASE_URL", f"{vibetuner_mongo.url}_i18n_{uuid.uuid4().hex[:8]}")
        env.setenv("SUPPORTED_LANGUAGES", json.dumps(list(languages)))
        env.setenv("DEFAULT_LANGUAGE", default)
        env.setenv("LANGUAGE_URL_PREFIX", "true" if prefix else "false")
        env.setenv("BASE_URL", BASE)
        env.setenv("EMAIL_PROVIDER", "outbox")
        reset_settings()
        reset_email_service()
        _templating.get_templates.cache_clear()
        rendering.get_templates.cache_clear()
        get_session_store.cache_clear()
        reset_rate_limit_store()
        app = build_app()
        async with app.router.lifespan_context(app):
            yield app
        get_session_store.cache_clear()

    return started


def browser(
    app: FastAPI, *, cookies: dict[str, str] | None = None, **headers: str
) -> httpx.AsyncClient:
    """`browser(app, accept_language="es")`: a client sending those headers on every request."""
    transport = httpx.ASGITransport(app=app)
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    return httpx.AsyncClient(transport=transport, base_url=BASE, headers=sent, cookies=cookies)


def html_lang(page: httpx.Response) -> str:
    match = re.search(r'<html lang="([^"]+)"', page.text)
    assert match, page.text[:300]
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, email: str, locale: str | None = None) -> None:
    """Create the account with a language preference, then sign in through the real route."""
    from vibetuner.services.auth import get_or_create_user
    from vibetuner.testing import sign_in_as

    user = await get_or_create_user(email)
    user.locale = locale
    await user.save()
    await sign_in_as(client, email)
