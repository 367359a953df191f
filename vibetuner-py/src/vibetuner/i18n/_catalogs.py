"""Languages and their compiled catalogs, loaded once per settings: the app's over the framework's.

Catalogs are read with the standard library's `gettext` (no Babel on the request path). A
supported language without any compiled catalog is served in the default language, with a
warning at startup: never an error.
"""

from __future__ import annotations

import gettext
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vibetuner.config import get_settings
from vibetuner.exceptions import ConfigError

if TYPE_CHECKING:
    from vibetuner.config import Settings

logger = logging.getLogger("vibetuner.i18n")

FRAMEWORK_TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "messages"
_CODE = re.compile(r"^([a-zA-Z]{2,3})(?:[-_]([a-zA-Z]{4}))?(?:[-_]([a-zA-Z]{2}|[0-9]{3}))?$")


@dataclass(frozen=True, slots=True)
class Language:
    """One language, spelled the three ways it is needed."""

    code: str
    """Babel and gettext spelling: `pt_BR`."""
    tag: str
    """BCP 47, for `<html lang>` and hreflang: `pt-BR`."""
    segment: str
    """The URL prefix: `pt-br`."""

    @classmethod
    def parse(cls, raw: str) -> Language:
        match = _CODE.match(raw.strip())
        if match is None:
            raise ConfigError(
                f"{raw!r} is not a language code.",
                fix="Use codes like en, es or pt_BR in SUPPORTED_LANGUAGES and DEFAULT_LANGUAGE.",
            )
        language, script, region = match.groups()
        parts = [language.lower()]
        if script:
            parts.append(script.title())
        if region:
            parts.append(region.upper())
        return cls(code="_".join(parts), tag="-".join(parts), segment="-".join(parts).lower())


@dataclass(frozen=True, slots=True)
class Active:
    """What a request speaks: the language and its merged translations."""

    language: Language
    translations: gettext.NullTranslations

    @property
    def code(self) -> str:
        return self.language.code


class Catalogs:
    """The supported languages, which of them have catalogs, and how to match a request's."""

    def __init__(self, default: str, supported: Sequence[str], directories: Sequence[Path]) -> None:
        self.default = Language.parse(default)
        parsed = [Language.parse(code) for code in supported]
        if self.default not in parsed:
            parsed.insert(0, self.default)
        self.supported: tuple[Language, ...] = tuple(dict.fromkeys(parsed))
        self.directories = tuple(directories)
        found = {lang.code: _load(lang, self.directories) for lang in self.supported}
        self.missing = tuple(
            lang.code
            for lang in self.supported
            if found[lang.code] is None and lang != self.default
        )
        self.languages: tuple[Language, ...] = tuple(
            lang for lang in self.supported if lang.code not in self.missing
        )
        """The languages actually served (with a catalog, or the default)."""
        default_active = Active(
            self.default, found[self.default.code] or gettext.NullTranslations()
        )
        self.active: dict[str, Active] = {self.default.code: default_active}
        for lang in self.supported:
            translations = found[lang.code]
            self.active[lang.code] = (
                Active(lang, translations) if translations is not None else default_active
            )
        self.default_active = default_active
        self.lookup = _lookup(self.languages)
        """Lower-case tag, URL segment or bare language -> the code to serve."""
        self.segments = {lang.segment: self.active[lang.code].code for lang in self.supported}

    @property
    def multilingual(self) -> bool:
        return len(self.languages) > 1

    def match(self, value: str) -> str | None:
        """The served code for a tag like `es-MX` (falling back to `es`), or None."""
        key = value.strip().lower().replace("_", "-")
        found = self.lookup.get(key)
        if found is None and "-" in key:
            found = self.lookup.get(key.split("-", 1)[0])
        return found

    def localized_path(self, path: str, code: str) -> str:
        """`path` (with or without a language prefix) as the URL for `code`."""
        segment, rest = _split_prefix(path)
        if segment is not None and segment in self.segments:
            path = rest
        if code == self.default.code:
            return path
        language = self.active[code].language
        return f"/{language.segment}{path}" if path != "/" else f"/{language.segment}/"


def _split_prefix(path: str) -> tuple[str | None, str]:
    """`/es/posts` -> (`es`, `/posts`); `/es` -> (`es`, `/`); paths without a segment -> None."""
    if len(path) < 2 or path[0] != "/":
        return None, path
    end = path.find("/", 1)
    if end == -1:
        return path[1:].lower(), "/"
    return path[1:end].lower(), path[end:]


def _lookup(languages: Iterable[Language]) -> dict[str, str]:
    table: dict[str, str] = {}
    for lang in languages:
        table[lang.segment] = lang.code
    for lang in languages:
        table.setdefault(lang.segment.split("-", 1)[0], lang.code)
    return table


def _candidates(language: Language) -> list[str]:
    bare = language.code.split("_", 1)[0]
    return [language.code] if bare == language.code else [language.code, bare]


def _load(language: Language, directories: Sequence[Path]) -> gettext.NullTranslations | None:
    """The catalogs for `language` chained in order (app first, then the framework)."""
    chain: gettext.NullTranslations | None = None
    for directory in directories:
        for code in _candidates(language):
            path = directory / code / "LC_MESSAGES" / f"{DOMAIN}.mo"
            if not path.is_file():
                continue
            try:
                with path.open("rb") as handle:
                    translations = gettext.GNUTranslations(handle)
            except (OSError, ValueError, UnicodeDecodeError, IndexError) as exc:
                logger.warning("Ignoring unreadable catalog %s: %s", path, exc)
                continue
            if chain is None:
                chain = translations
            else:
                chain.add_fallback(translations)
    return chain


def build_catalogs(settings: Settings) -> Catalogs:
    return Catalogs(
        settings.default_language,
        settings.supported_languages,
        [settings.translations_dir, FRAMEWORK_TRANSLATIONS],
    )


_cached: tuple[Settings, Catalogs] | None = None
_get_settings: Callable[[], Settings] | None = None


def current_catalogs() -> Catalogs:
    """The catalogs for the current settings, built on first use and after settings change."""
    global _cached, _get_settings
    if _get_settings is None:  # imported once, not per call: this runs for every `_()`
        _get_settings = get_settings
    settings = _get_settings()
    if _cached is None or _cached[0] is not settings:
        catalogs = build_catalogs(settings)
        for code in catalogs.missing:
            logger.warning(
                "No compiled catalog for %r: it is served in %r (run `vibetuner i18n compile`).",
                code,
                catalogs.default.code,
            )
        _cached = (settings, catalogs)
    return _cached[1]


def reset_catalogs() -> None:
    """Forget the loaded catalogs (after compiling new ones in the same process)."""
    global _cached
    _cached = None


def check_catalogs(settings: Settings) -> tuple[bool, str, str]:
    """For `vibetuner doctor`: does every supported language have an up-to-date compiled catalog?"""
    catalogs = build_catalogs(settings)
    app_dir = settings.translations_dir
    stale = [
        po.parent.parent.name
        for po in sorted(app_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
        if not po.with_suffix(".mo").is_file()
        or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime
    ]
    served = ", ".join(lang.code for lang in catalogs.languages)
    if catalogs.missing:
        started = [
            c for c in catalogs.missing if (app_dir / c / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()
        ]
        fix = (
            "Run `vibetuner i18n compile`."
            if started
            else (
                f"Run `vibetuner i18n init {catalogs.missing[0]}`, translate it, then "
                "`vibetuner i18n compile`."
            )
        )
        missing = ", ".join(catalogs.missing)
        detail = f"No compiled catalog for {missing} (served in {catalogs.default.code})"
        return False, detail, fix
    if stale:
        return (
            False,
            f"Catalogs changed since the last compile: {', '.join(stale)}",
            ("Run `vibetuner i18n compile`."),
        )
    return True, served + (" (one language)" if not catalogs.multilingual else " compiled"), ""
