"""Template gettext keeps Jinja's newstyle rules: variables escaped, `%%` literal, plural `num`."""

from __future__ import annotations

import pytest

from vibetuner.frontend._templating import get_templates
from vibetuner.i18n import use_locale


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("{{ _('Hi %(who)s', who=name) }}", "Hi &lt;b&gt;Ada&lt;/b&gt;"),
        ("{% trans who=name %}Hi {{ who }}{% endtrans %}", "Hi &lt;b&gt;Ada&lt;/b&gt;"),
        ("{{ _('100%% sure') }}", "100% sure"),
        ("{% trans %}100% sure{% endtrans %}", "100% sure"),
        ("{{ ngettext('%(num)d post', '%(num)d posts', 2) }}", "2 posts"),
        ("{% trans count=1 %}{{ count }} post{% pluralize %}{{ count }} posts{% endtrans %}",
         "1 post"),
        ("{{ pgettext('menu', 'Open') }}", "Open"),
        ("{{ _('Sign out') }}", "Cerrar sesión"),
    ],
)  # fmt: skip
def test_newstyle_rules(settings_env: pytest.MonkeyPatch, source: str, html: str) -> None:
    settings_env.setenv("SUPPORTED_LANGUAGES", '["en", "es"]')
    template = get_templates().env.from_string(source)
    with use_locale("es" if "Cerrar" in html else "en"):
        assert template.render(name="<b>Ada</b>") == html


def test_plain_text_templates_are_not_escaped(settings_env: pytest.MonkeyPatch) -> None:
    text_env = get_templates().env.overlay(autoescape=False)
    rendered = text_env.from_string("{{ _('Hi %(who)s', who=name) }}").render(name="<b>")
    assert rendered == "Hi <b>"
