"""Fixed calls are folded into each language's compiled templates, with the same output."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from markupsafe import Markup

from vibetuner.frontend._folding import ConstantCalls, fold_markup, fold_text, set_folders
from vibetuner.frontend._static import HashedStatics
from vibetuner.frontend._templating import Templates
from vibetuner.i18n import use_locale

SPANISH = {"Sign in": "Entrar", "Fish & chips": "Pescado & patatas", "100%% sure": "100%% seguro"}


def _env(folders: dict[str, object]) -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, extensions=[ConstantCalls])
    env.globals.update(_=lambda m, **kw: Markup(SPANISH.get(m, m)), lang_url=lambda p: p)
    set_folders(env, folders)  # type: ignore[arg-type]
    return env


def _code(env: jinja2.Environment, source: str) -> str:
    return str(env.compile(source, raw=True))


FOLDERS = {"_": fold_markup(lambda m: SPANISH.get(m, m)), "lang_url": fold_text(lambda p: p)}


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("{{ _('Sign in') }}", "Entrar"),
        ('<a title="{{ _("Fish & chips") }}">', '<a title="Pescado & patatas">'),
        ("{{ _('100%% sure') }}", "100% seguro"),
        ("{{ lang_url('/a&b') }}", "/a&amp;b"),
        ("{{ _('Sign in') ~ '!' }}", "Entrar!"),
    ],
)
def test_literal_calls_become_constants(source: str, html: str) -> None:
    env = _env(FOLDERS)
    assert "context.call" not in _code(env, source)
    assert env.from_string(source).render() == html


@pytest.mark.parametrize(
    "source",
    [
        "{{ _(word) }}",
        "{{ _('Sign in', n=1) }}",
        "{{ _('Sign' 'in') }}",
        "{{ thing._('Sign in') }}",
        "{{ gettext('Sign in') }}",
    ],
)
def test_anything_but_the_literal_form_stays_a_call(source: str) -> None:
    env = _env(FOLDERS)
    env.globals["gettext"] = env.globals["_"]
    env.globals["thing"] = {"_": lambda m: m}
    assert "context.call" in _code(env, source) or "environment.getattr" in _code(env, source)
    env.from_string(source).render(word="Sign in")


def test_a_folder_may_decline() -> None:
    env = _env({"_": lambda message: None})
    assert "context.call" in _code(env, "{{ _('Sign in') }}")


@pytest.fixture
def spanish_app(settings_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    settings_env.setenv("SUPPORTED_LANGUAGES", '["en", "es"]')
    project = tmp_path / "templates"
    project.mkdir()
    (project / "page.html.jinja").write_text(
        "{{ html_lang() }}|{{ _('Sign in') }}|{{ lang_url('/x') }}|{{ static_url('app.css') }}"
    )
    statics = tmp_path / "statics"
    statics.mkdir()
    (statics / "app.css").write_text("body{}")
    return tmp_path


def test_each_language_gets_its_own_compiled_page(spanish_app: Path) -> None:
    templates = Templates(spanish_app / "templates", HashedStatics(spanish_app / "statics"))
    with use_locale("en"):
        english = templates.render_to_string("page.html.jinja")
    with use_locale("es"):
        spanish = templates.render_to_string("page.html.jinja")
    assert english.startswith("en|Sign in|/x|/static/")
    assert spanish.startswith("es|Iniciar sesión|/x|/static/")
    assert english.split("|")[3] == spanish.split("|")[3]


def test_static_urls_fold_only_when_files_are_not_watched(spanish_app: Path) -> None:
    for watch in (False, True):
        statics = HashedStatics(spanish_app / "statics", watch=watch)
        templates = Templates(spanish_app / "templates", statics)
        env = templates._envs["en"]
        code = _code(env, "{{ static_url('app.css') }}")
        assert ("context.call" in code) == watch


def test_the_public_env_folds_nothing_and_shares_globals(spanish_app: Path) -> None:
    templates = Templates(spanish_app / "templates", HashedStatics(spanish_app / "statics"))
    assert "context.call" in _code(templates.env, "{{ _('Sign in') }}")
    templates.env.globals["added_later"] = "seen"
    (spanish_app / "templates" / "later.html.jinja").write_text("{{ added_later }}")
    assert templates.render_to_string("later.html.jinja") == "seen"
    with use_locale("es"):
        assert templates.env.from_string("{{ _('Sign in') }}").render() == "Iniciar sesión"
