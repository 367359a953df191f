"""The framework's own catalogs are complete and compiled; language codes are checked."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from vibetuner.exceptions import ConfigError
from vibetuner.i18n import Catalogs, Language
from vibetuner.i18n._catalogs import FRAMEWORK_TRANSLATIONS
from vibetuner.i18n._messages import _read, extract, framework_layout


def test_every_framework_string_has_a_spanish_translation(tmp_path: Path) -> None:
    """Wrapping a new string in _() without translating it fails here."""
    layout = dataclasses.replace(framework_layout(), translations=tmp_path)
    extract(layout)
    wanted = {
        m.id if isinstance(m.id, str) else m.id[0]
        for m in _read(layout.template_file, tmp_path)
        if m.id
    }
    spanish = _read(FRAMEWORK_TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.po", tmp_path, "es")
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in spanish
        if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    assert wanted - translated == set(), "run `make i18n-framework` and translate the new strings"
    assert len(wanted) > 80


@pytest.mark.parametrize("code", ["en", "es"])
def test_shipped_mo_files_match_their_po(code: str, tmp_path: Path) -> None:
    from babel.messages.mofile import write_mo

    folder = FRAMEWORK_TRANSLATIONS / code / "LC_MESSAGES"
    compiled = io.BytesIO()
    write_mo(compiled, _read(folder / "messages.po", tmp_path, code))
    assert (folder / "messages.mo").read_bytes() == compiled.getvalue(), "run `make i18n-framework`"


@pytest.mark.parametrize(
    ("raw", "code", "tag", "segment"),
    [("es", "es", "es", "es"), ("pt-br", "pt_BR", "pt-BR", "pt-br"),
     ("zh_hant_tw", "zh_Hant_TW", "zh-Hant-TW", "zh-hant-tw"), (" EN ", "en", "en", "en")],
)  # fmt: skip
def test_language_codes_are_normalised(raw: str, code: str, tag: str, segment: str) -> None:
    assert Language.parse(raw) == Language(code, tag, segment)


@pytest.mark.parametrize("raw", ["english", "e", "es/../x", ""])
def test_bad_language_codes_say_how_to_fix_them(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Language.parse(raw)
    assert "SUPPORTED_LANGUAGES" in (caught.value.fix or "")


def test_app_catalog_wins_and_the_default_joins_the_supported(tmp_path: Path) -> None:
    from babel.messages import Catalog
    from babel.messages.mofile import write_mo

    catalog = Catalog(locale="es")
    catalog.add("Sign in", "Entrar")
    (tmp_path / "es" / "LC_MESSAGES").mkdir(parents=True)
    with (tmp_path / "es" / "LC_MESSAGES" / "messages.mo").open("wb") as handle:
        write_mo(handle, catalog)
    catalogs = Catalogs("en", ["es"], [tmp_path, FRAMEWORK_TRANSLATIONS])
    spanish = catalogs.active["es"].translations
    assert [lang.code for lang in catalogs.languages] == ["en", "es"]
    assert spanish.gettext("Sign in") == "Entrar"
    assert spanish.gettext("Sign out") == "Cerrar sesión", "the framework's catalog fills the rest"
    assert catalogs.match("ES-mx") == "es" and catalogs.match("fr") is None
    assert catalogs.localized_path("/es/a", "en") == "/a"
    assert catalogs.localized_path("/", "es") == "/es/"
