"""Which language a request gets: prefix, user choice, cookie, Accept-Language, default."""

from __future__ import annotations

import pytest

from tests.i18n.conftest import AppFactory, browser, html_lang, sign_in
from vibetuner.i18n._negotiate import parse_accept_language


async def test_default_then_accept_language_with_region_fallback(make_app: AppFactory) -> None:
    async with make_app() as app:
        async with browser(app) as client:
            plain = await client.get("/auth/login")
        cases = {
            "es-MX,en;q=0.5": "es",  # region falls back to the language
            "ES_es": "es",
            "de-DE, en;q=0.1, es;q=0.9": "es",  # quality decides, unsupported are skipped
            "de, fr": "en",  # nothing supported: the default
            "es;q=0, en": "en",  # q=0 means "not this one"
            "*": "en",
        }
        for header, expected in cases.items():
            async with browser(app, accept_language=header) as client:
                page = await client.get("/auth/login")
            assert page.status_code == 200
            assert html_lang(page) == expected, header
    assert html_lang(plain) == "en" and ">Sign in</h1>" in plain.text
    varies = [v.strip() for v in plain.headers["vary"].split(",")]
    assert varies.count("Accept-Language") == 1, "shared caches keep one copy per language"


async def test_cookie_beats_accept_language(make_app: AppFactory) -> None:
    async with make_app() as app:
        async with browser(
            app, accept_language="en", cookies={"theme": "dark", "vt_lang": "es"}
        ) as client:
            spanish = await client.get("/auth/login")
        async with browser(app, accept_language="es", cookies={"vt_lang": "en"}) as client:
            english = await client.get("/auth/login")
        async with browser(app, accept_language="es", cookies={"vt_lang": "klingon"}) as client:
            unknown_cookie = await client.get("/auth/login")
    assert html_lang(spanish) == "es" and ">Entrar</h1>" in spanish.text
    assert html_lang(english) == "en"
    assert html_lang(unknown_cookie) == "es", "a bad cookie is ignored, the header still counts"


async def test_signed_in_preference_beats_cookie(make_app: AppFactory) -> None:
    async with make_app() as app:
        async with browser(app, accept_language="en", cookies={"vt_lang": "en"}) as client:
            await sign_in(client, "ana@example.com", locale="es")
            account = await client.get("/account")
        async with browser(app, accept_language="en", cookies={"vt_lang": "es"}) as client:
            await sign_in(client, "bo@example.com", locale=None)
            no_preference = await client.get("/account")
    assert account.status_code == 200 and html_lang(account) == "es"
    assert "Tu perfil" in account.text
    assert html_lang(no_preference) == "es", "without a preference the cookie decides"


async def test_url_prefix_beats_everything_and_links_keep_it(make_app: AppFactory) -> None:
    cookies = {"vt_lang": "es"}
    async with (
        make_app(prefix=True) as app,
        browser(app, accept_language="es", cookies=cookies) as client,
    ):
        await sign_in(client, "cy@example.com", locale="es")
        english = await client.get("/en/account")
        spanish = await client.get("/es/account")
        bare = await client.get("/account")
        report = await client.get("/es/report")
        root = await client.get("/es")
        unknown = await client.get("/xx/account")
    assert english.status_code == 200 and html_lang(english) == "en"
    assert "Your profile" in english.text
    assert html_lang(spanish) == "es" and 'href="/es/account/sessions"' in spanish.text
    assert html_lang(bare) == "es", "without a prefix, the user's preference decides"
    assert 'href="/account/sessions"' in bare.text
    assert report.status_code == 200 and 'data-link href="/es/report"' in report.text
    hreflang = 'rel="alternate" hreflang="{}" href="http://testserver{}"'
    assert hreflang.format("en", "/report") in report.text
    assert hreflang.format("es", "/es/report") in report.text
    assert hreflang.format("x-default", "/report") in report.text
    assert "accept-language" not in english.headers.get("vary", "").lower(), (
        "the URL chose the language: nothing to vary on"
    )
    assert "Accept-Language" in bare.headers["vary"]
    assert root.status_code == 404, "/es is / in Spanish (this app has no home page)"
    assert root.json() == {"detail": "La página que buscas no existe."}
    assert unknown.status_code == 404, "only supported languages are prefixes"


async def test_missing_catalog_falls_back_to_the_default(make_app: AppFactory) -> None:
    """French is supported but has no compiled catalog anywhere: served in English, no error."""
    async with make_app(languages=("en", "es", "fr"), prefix=True) as app:
        async with browser(app, accept_language="fr-FR, es;q=0.5") as client:
            by_header = await client.get("/report")
        async with browser(app, accept_language="fr", cookies={"vt_lang": "fr"}) as client:
            by_cookie = await client.get("/report")
            by_prefix = await client.get("/fr/report")
            switched = await client.post("/i18n/language", data={"language": "fr"})
    assert html_lang(by_header) == "es", "a language without catalog is skipped in the header"
    assert by_cookie.status_code == 200 and html_lang(by_cookie) == "en"
    assert "Quarterly report" in by_cookie.text
    assert by_prefix.status_code == 200 and html_lang(by_prefix) == "en"
    assert 'value="fr"' not in by_prefix.text, "the switcher offers only served languages"
    assert switched.status_code == 400


async def test_one_language_installs_no_middleware(make_app: AppFactory) -> None:
    async with make_app(languages=("en",)) as app:
        names = [m.cls.__name__ for m in app.user_middleware]  # type: ignore[attr-defined]
        async with browser(app, accept_language="es") as client:
            page = await client.get("/report")
    assert "LocaleMiddleware" not in names
    assert html_lang(page) == "en" and "data-language-switcher" not in page.text
    assert "hreflang" not in page.text


async def test_a_spanish_default_serves_spanish_without_any_hint(make_app: AppFactory) -> None:
    async with make_app(default="es") as app, browser(app) as client:
        page = await client.get("/report")
    assert html_lang(page) == "es" and "Informe trimestral" in page.text


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        ("es-MX,es;q=0.9,en;q=0.8", ["es-MX", "es", "en"]),
        ("en;q=0.2, fr", ["fr", "en"]),
        ("de;q=abc, it", ["it"]),
        ("", []),
        (",,;q=1", []),
    ],
)
def test_accept_language_parsing(header: str, tags: list[str]) -> None:
    assert parse_accept_language(header) == tags


async def test_the_language_cache_keeps_only_the_part_of_the_header_it_reads() -> None:
    """Parsing stops at MAX_HEADER characters; the cache must not keep 60 KB keys."""
    from starlette.responses import PlainTextResponse

    from vibetuner.i18n import Catalogs
    from vibetuner.i18n._catalogs import FRAMEWORK_TRANSLATIONS
    from vibetuner.i18n._negotiate import MAX_HEADER, LocaleMiddleware

    middleware = LocaleMiddleware(
        PlainTextResponse("ok"), catalogs=Catalogs("en", ["es"], [FRAMEWORK_TRANSLATIONS])
    )
    head = "es," + "x" * MAX_HEADER
    for tail in ("a" * 60_000, "b" * 60_000):
        scope = {"type": "http", "headers": [(b"accept-language", (head + tail).encode())]}
        assert middleware._from_headers(scope) == "es"
    assert middleware.from_header.cache_info().currsize == 1


async def test_the_slash_redirect_keeps_the_language_prefix(make_app: AppFactory) -> None:
    async with make_app(prefix=True) as app, browser(app) as client:
        slash = await client.get("/es/auth/login/?next=/x")
    assert slash.status_code == 307
    assert slash.headers["location"] == "http://testserver/es/auth/login?next=/x"
