"""Fixed calls are folded into each language's compiled templates, with the same output."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from random import Random
from typing import Any

import jinja2
import pytest
from jinja2.nodes import EvalContext

from vibetuner.frontend._static import HashedStatics
from vibetuner.frontend._templating import PageTemplates as Templates
from vibetuner.i18n import use_locale
from vibetuner.rendering._folding import Folder, FoldingEnvironment, fold_markup, fold_text
from vibetuner.rendering._i18n import _fill

SPANISH = {"Sign in": "Entrar", "Fish & chips": "Pescado & patatas", "100%% sure": "100%% seguro"}
LIBRARY = {
    "m.html": "{% macro shout() %}!{{ varargs|join(',') }}{% endmacro %}",
    "inc.html": "[{{ lang_url('/inc') }}]",
    "uses.html": "{% macro f() %}{{ lang_url('/u') }}{% endmacro %}",
}
FOLDERS: dict[str, Folder] = {
    "_": fold_markup(lambda m: SPANISH.get(m, m)),
    "gettext": fold_markup(lambda m: SPANISH.get(m, m)),
    "lang_url": fold_text(lambda p: p),
    "html_lang": fold_text(lambda: "es"),
}


def _shout(*args: Any) -> str:
    return "!" + ",".join(map(str, args))


def _env(folders: dict[str, Folder], calls: Counter[str] | None = None) -> jinja2.Environment:
    """Globals behaving like the app's (newstyle gettext), each call counted in `calls`."""
    env = FoldingEnvironment(
        autoescape=True, extensions=["jinja2.ext.i18n"], loader=jinja2.DictLoader(LIBRARY)
    )
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    count = calls if calls is not None else Counter()

    @jinja2.pass_eval_context
    def gettext(eval_ctx: EvalContext, message: str, **variables: Any) -> str:
        count["gettext"] += 1
        return _fill(eval_ctx, SPANISH.get(message, message), variables)

    def lang_url(path: str) -> str:
        count["lang_url"] += 1
        return path

    def html_lang() -> str:
        count["html_lang"] += 1
        return "es"

    env.globals.update(_=gettext, gettext=gettext, lang_url=lang_url, html_lang=html_lang)
    env.globals.update(caller=_shout, loop=_shout, varargs=_shout)
    env.folders = folders
    return env


def _code(env: jinja2.Environment, source: str) -> str:
    return str(env.compile(source, raw=True))


def _outcome(env: jinja2.Environment, source: str | jinja2.Template, **context: Any) -> str:
    """The rendered text, or the kind of error compiling or rendering raised."""
    try:
        template = env.from_string(source) if isinstance(source, str) else source
        return template.render(shout=_shout, **context)
    except Exception as error:  # compared between environments
        return f"error: {type(error).__name__}"


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("{{ _('Sign in') }}", "Entrar"),
        ('<a title="{{ _("Fish & chips") }}">', '<a title="Pescado & patatas">'),
        ("{{ _('100%% sure') }}", "100% seguro"),
        ("{{ lang_url('/a&b') }}", "/a&amp;b"),
        ("{{ lang_url('/x') ~ '<' }}", "/x&lt;"),
        ("{{ _('Sign' ' in') }}", "Entrar"),
        ("{% trans %}Fish & chips{% endtrans %}", "Pescado & patatas"),
        (
            "{% autoescape false %}{{ _('Fish & chips')|e }}{% endautoescape %}",
            "Pescado &amp; patatas",
        ),
        ("{{ html_lang() }}", "es"),
        ("{{ _('Fish & %(x)s', x='<b>') }}", "Fish & &lt;b&gt;"),
        (
            "{{ _('See <a href=\"%(u)s\">it</a>', u='/?a=1&b') }}",
            'See <a href="/?a=1&amp;b">it</a>',
        ),
    ],
)
def test_literal_calls_become_constants(source: str, html: str) -> None:
    calls: Counter[str] = Counter()
    env = _env(FOLDERS, calls)
    assert "context.call" not in _code(env, source)
    assert env.from_string(source).render() == html == _outcome(_env({}), source)
    assert not calls


@pytest.mark.parametrize(
    "source",
    [
        "{{ _(word) }}",
        "{{ _('Sign in', n=1) }}",
        "{{ _('Hi %(x)s', x=name) }}",
        "{{ _('Hi %(eval_ctx)s', eval_ctx='x') }}",
        "{{ _('Hi %(message)s', message='x') }}",
        "{% autoescape false %}{{ _('Hi %(x)s', x='<') }}{% endautoescape %}",
        "{{ _('Hi %(x)s', x='<')|upper ~ '<' }}",
        "{{ _('Sign' ~ 'in') }}",
        "{{ _('Fish & chips')|upper ~ '<' }}",
        "{{ thing._('Sign in') }}",
        "{{ _(*words) }}",
        "{{ _() }}",
        "{% autoescape volatile %}{{ _('Sign in') }}{% endautoescape %}",
    ],
)
def test_anything_but_the_literal_form_stays_a_call(source: str) -> None:
    env = _env(FOLDERS)
    assert "context.call" in _code(env, source)
    context = {"word": "Sign in", "words": ["Sign in"], "volatile": True, "thing": {"_": str}}
    context["name"] = "<b>"
    assert _outcome(env, source, **context) == _outcome(_env({}), source, **context)


def test_a_folder_may_decline() -> None:
    env = _env({"_": lambda message: None})
    assert "context.call" in _code(env, "{{ _('Sign in') }}")


def test_syntax_errors_still_name_the_template_line() -> None:
    with pytest.raises(jinja2.TemplateSyntaxError) as raised:
        _env(FOLDERS).from_string("{{ _('Sign in') }}\n{{ x|no_such_filter }}")
    assert raised.value.lineno == 2


@pytest.mark.parametrize(
    ("source", "html"),
    [
        # macro parameters, Jinja's implicit ones too
        ("{% macro m(lang_url) %}{{ lang_url('/x') }}{% endmacro %}{{ m(shout) }}", "!/x"),
        ("{% macro m(a, _=shout) %}{{ _('Sign in') }}{% endmacro %}{{ m(1) }}", "!Sign in"),
        (
            "{% macro m() %}{{ caller('y') }}{% endmacro %}{% call(a) m() %}{{ a }}{% endcall %}",
            "y",
        ),
        ("{% macro m() %}{{ varargs('y') }}{% endmacro %}{{ m() }}", "error: TypeError"),
        ("{% for x in [[]] recursive %}[{{ loop(x) }}]{% endfor %}", "[]"),
        ("{% macro lang_url(p) %}<{{ p }}>{% endmacro %}{{ lang_url('/x') }}", "</x>"),
        # call blocks' parameters
        (
            "{% macro m() %}{{ caller(shout) }}{% endmacro %}"
            "{% call(lang_url) m() %}{{ lang_url('/x') }}{% endcall %}",
            "!/x",
        ),
        # set, inline and block, at the top level, in branches, in blocks and filters
        ("{{ lang_url('/x') }}{% set lang_url = shout %}{{ lang_url('/x') }}", "/x!/x"),
        ("{% if true %}{% set _ = shout %}{% endif %}{{ _('Sign in') }}", "!Sign in"),
        ("{% set lang_url %}x{% endset %}{{ lang_url('/x') }}", "error: TypeError"),
        ("{% set a, gettext = 1, shout %}{{ gettext('Sign in') }}", "!Sign in"),
        ("{% block b %}{% set _ = shout %}{{ _('Sign in') }}{% endblock %}", "!Sign in"),
        ("{% block b %}{{ _('Sign in') }}{% endblock %}{% set _ = shout %}", "Entrar"),
        ("{% filter upper %}{% set _ = shout %}{{ _('Sign in') }}{% endfilter %}", "!SIGN IN"),
        ("{% set gettext = shout %}{% trans %}Sign in{% endtrans %}", "!Sign in"),
        # loop targets, in the body and in the loop's own filter
        ("{% for lang_url in [shout] %}{{ lang_url('/x') }}{% endfor %}", "!/x"),
        ("{% for a, _ in [(1, shout)] %}{{ _('Sign in') }}{% endfor %}", "!Sign in"),
        ("{% for _ in [shout] if _('a') %}{{ _('b') }}{% endfor %}", "!b"),
        ("{% for x in [shout] %}{% set lang_url = x %}{{ lang_url('/x') }}{% endfor %}", "!/x"),
        # with, imports
        ("{% with lang_url = shout %}{{ lang_url('/x') }}{% endwith %}", "!/x"),
        ("{% import 'm.html' as lang_url %}{{ lang_url('/x') }}", "error: TypeError"),
        ("{% from 'm.html' import shout as lang_url %}{{ lang_url('/x') }}", "!/x"),
        ("{% from 'm.html' import shout %}{% macro m(shout) %}{{ shout() }}{% endmacro %}", ""),
        # a use outside decides how Jinja starts a nested frame's assigned name
        (
            "{% for i in [1] %}{% set s %}{{ lang_url('/a') }}{% endset %}"
            "{% set lang_url = shout %}{{ s }}{% endfor %}{{ lang_url('/b') }}",
            "/a/b",
        ),
    ],
)
def test_a_local_binding_wins_over_the_folded_global(source: str, html: str) -> None:
    folders = {
        **FOLDERS,
        "caller": fold_text(str),
        "varargs": fold_text(str),
        "loop": fold_text(str),
    }
    assert _outcome(_env(folders), source) == html == _outcome(_env({}), source)


@pytest.mark.parametrize(
    "source",
    [
        "{% macro m(lang_url) %}{% endmacro %}{{ lang_url('/y') }}",
        "{% for lang_url in [1] %}{{ lang_url }}{% endfor %}{{ lang_url('/y') }}{{ _('a') }}",
        "{% block b %}{% set lang_url = 1 %}{% endblock %}{{ lang_url('/y') }}",
        "{% call(lang_url) m() %}{% endcall %}{{ lang_url('/y') }}",
    ],
)
def test_a_binding_in_a_closed_scope_leaves_others_folded(source: str) -> None:
    calls = [line for line in _code(_env(FOLDERS), source).splitlines() if "context.call" in line]
    assert not [line for line in calls if "'/y'" in line or "'a'" in line]


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("{% include 'inc.html' %}", "[/inc]"),
        ("{% for lang_url in [shout] %}{% include 'inc.html' %}{% endfor %}", "[!/inc]"),
        ("{% set lang_url = shout %}{% include ['no.html', 'inc.html'] %}", "[!/inc]"),
        ("{% set lang_url = shout %}{% include 'inc.html' without context %}", "[/inc]"),
        ("{% set lang_url = shout %}{% extends 'inc.html' %}", "[!/inc]"),
        ("{% set lang_url = shout %}{% from 'uses.html' import f with context %}{{ f() }}", "!/u"),
        (
            "{% with lang_url = shout %}{% import 'uses.html' as u with context %}"
            "{{ u.f() }}{% endwith %}",
            "!/u",
        ),
    ],
)
def test_templates_that_see_a_rebound_name_load_unfolded(source: str, html: str) -> None:
    calls: Counter[str] = Counter()
    assert _outcome(_env(FOLDERS, calls), source) == html == _outcome(_env({}), source)
    assert not calls


def test_folded_templates_never_call_the_global() -> None:
    calls: Counter[str] = Counter()
    env = _env(FOLDERS, calls)
    template = env.from_string(
        "{% for i in range(3) %}{{ lang_url('/a') }}{{ _('b') }}{% endfor %}"
    )
    assert template.render() == "/ab" * 3
    assert not calls
    env = _env({}, calls)
    env.from_string("{{ lang_url('/a') }}").render()
    assert calls == {"lang_url": 1}


def _tag(statement: str) -> str:
    return "{% " + statement + " %}"


def _out(expression: str) -> str:
    return "{{ " + expression + " }}"


class _RandomTemplate:
    """Templates mixing folded calls with every construct that can rebind their names."""

    NAMES = ("_", "gettext", "lang_url", "html_lang")
    CALLS = (
        '_("Fish & chips")',
        "_('100%% sure')",
        'gettext("Sign in")',
        'lang_url("/a&b")',
        "html_lang()",
        "_('Hi %(x)s & bye', x='<i>')",
    )
    TRANS = ("{% trans %}Sign in{% endtrans %}", "{% trans %}100% sure{% endtrans %}")

    def __init__(self, seed: int) -> None:
        self.random = Random(seed)
        self.count = 0

    def source(self) -> str:
        return self.body(3, blocks=True)

    def body(self, depth: int, *, blocks: bool) -> str:
        return "".join(self.statement(depth, blocks) for _ in range(self.random.randint(1, 3)))

    def statement(self, depth: int, blocks: bool) -> str:
        pick = self.random.choice
        name, call = pick(self.NAMES), pick(self.CALLS)
        self.count += 1
        m = f"m{self.count}"
        leaves: list[Callable[[], str]] = [
            lambda: pick(["<b>", "a & b", " ", "|"]),
            lambda: _out(call),
            lambda: _out(call),
            lambda: _out(f"{call}|upper ~ '<'"),
            lambda: _tag(f"set {name} = shout"),
            lambda: _tag(f"set t{self.count} = {call}") + _out(f"t{self.count}"),
            lambda: _tag(f"from 'm.html' import shout as {name}"),
            lambda: pick(self.TRANS),
            lambda: _tag("include 'inc.html'"),
        ]
        if depth == 0 or self.random.random() < 0.3:
            return pick(leaves)()

        def inner() -> str:
            return self.body(depth - 1, blocks=blocks)

        def closed() -> str:
            return self.body(depth - 1, blocks=False)

        nested: list[Callable[[], str]] = [
            lambda: _tag(f"for {name} in fns") + inner() + "{% else %}" + inner() + "{% endfor %}",
            lambda: _tag("for x in fns") + inner() + "{% endfor %}",
            lambda: _tag(f"with {name} = shout") + inner() + "{% endwith %}",
            lambda: _tag(f"macro {m}({name})") + closed() + "{% endmacro %}" + _out(f"{m}(shout)"),
            lambda: _tag(f"macro {m}(a={call})") + closed() + "{% endmacro %}" + _out(f"{m}()"),
            lambda: (
                _tag(f"macro {m}()")
                + _out("caller(shout)")
                + "{% endmacro %}"
                + _tag(f"call({name}) {m}()")
                + closed()
                + "{% endcall %}"
            ),
            lambda: "{% if flag %}" + inner() + "{% else %}" + inner() + "{% endif %}",
            lambda: "{% filter upper %}" + inner() + "{% endfilter %}",
            lambda: _tag(f"autoescape {pick(['false', 'true'])}") + inner() + "{% endautoescape %}",
            lambda: _tag(f"set {name}") + inner() + "{% endset %}",
        ]
        if blocks:
            nested.append(lambda: _tag(f"block b{self.count}") + inner() + "{% endblock %}")
        return pick(nested)()


def test_random_templates_render_the_same_folded_and_unfolded() -> None:
    folded_calls: Counter[str] = Counter()
    plain_calls: Counter[str] = Counter()
    folded, plain = _env(FOLDERS, folded_calls), _env({}, plain_calls)
    renders = errors = 0
    for seed in range(300):
        source = _RandomTemplate(seed).source()
        pair = folded.from_string(source), plain.from_string(source)
        for flag, fns in [(False, []), (True, []), (False, [_shout]), (True, [_shout])]:
            expected = _outcome(plain, pair[1], flag=flag, fns=fns)
            assert _outcome(folded, pair[0], flag=flag, fns=fns) == expected, source
            renders += 1
            errors += expected.startswith("error:")
    # The generator reaches both the folded calls and the rebinding forms.
    assert folded_calls.total() < plain_calls.total() * 0.6
    assert errors < renders / 2


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


def test_a_render_context_binding_a_folded_name_wins(spanish_app: Path) -> None:
    templates = Templates(spanish_app / "templates", HashedStatics(spanish_app / "statics"))
    with use_locale("es"):
        page = templates.render_to_string("page.html.jinja", {"lang_url": _shout})
    assert page.startswith("es|Iniciar sesión|!/x|/static/")


def test_included_templates_get_flat_globals(spanish_app: Path) -> None:
    (spanish_app / "templates" / "outer.html.jinja").write_text(
        "{% include 'page.html.jinja' %}{% include ['missing.html', 'page.html.jinja'] %}"
    )
    templates = Templates(spanish_app / "templates", HashedStatics(spanish_app / "statics"))
    with use_locale("es"):
        page = templates.render_to_string("outer.html.jinja")
    assert page.count("Iniciar sesión") == 2
    for name in ("outer.html.jinja", "page.html.jinja"):
        assert type(templates._envs["es"].get_template(name).globals) is dict
    assert type(templates._envs["es"].select_template(["page.html.jinja"]).globals) is dict
