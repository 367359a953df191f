"""Catalog upkeep with Babel: extract messages, start a language, merge new ones, compile.

Used by `vibetuner i18n`; Babel is imported only when one of these runs.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vibetuner.exceptions import VibetunerError
from vibetuner.i18n._catalogs import DOMAIN, FRAMEWORK_TRANSLATIONS, Language

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

KEYWORDS: dict[str, Any] = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "N_": None,
}
JINJA = "jinja2.ext:babel_extract"
JINJA_OPTIONS = {"trim_blocks": "true", "lstrip_blocks": "true", "silent": "false"}
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "translations", "migrations"})


class I18nError(VibetunerError):
    """A catalog could not be read or written; the message says which and how to fix it."""


@dataclass(frozen=True)
class Layout:
    """Where a project keeps what is extracted, and its catalogs."""

    root: Path
    templates: Sequence[Path]
    sources: Sequence[Path]
    translations: Path
    project: str = "app"

    @classmethod
    def for_project(cls, root: Path) -> Layout:
        """An app: `templates/**.jinja`, `src/**.py`, catalogs in `translations/`."""
        return cls(root, [root / "templates"], [root / "src"], root / "translations", root.name)

    @property
    def template_file(self) -> Path:
        return self.translations / f"{DOMAIN}.pot"

    def catalog_file(self, code: str, suffix: str = "po") -> Path:
        return self.translations / code / "LC_MESSAGES" / f"{DOMAIN}.{suffix}"

    def catalog_files(self) -> list[tuple[str, Path]]:
        """Every `<lang>/LC_MESSAGES/messages.po`, by language code."""
        if not self.translations.is_dir():
            return []
        found = sorted(self.translations.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
        return [(path.parent.parent.name, path) for path in found]


@dataclass(frozen=True)
class Compiled:
    code: str
    path: Path
    translated: int
    total: int
    problems: tuple[str, ...]


def extract(layout: Layout) -> tuple[Path, int]:
    """Write `translations/messages.pot` from the templates and the Python sources."""
    from babel.messages.catalog import Catalog  # babel, jinja2: kept off the CLI's startup
    from jinja2 import TemplateSyntaxError

    catalog = Catalog(project=layout.project, charset="utf-8", fuzzy=False)
    try:
        for path, line, message, comments, context in _messages(layout):
            catalog.add(message, None, [(path, line)], auto_comments=comments, context=context)
    except TemplateSyntaxError as exc:
        raise I18nError(
            f"{exc.filename or exc.name}:{exc.lineno}: {exc.message}",
            fix="Fix the template, then run `vibetuner i18n extract` again.",
        ) from exc
    except SyntaxError as exc:
        raise I18nError(
            f"{exc.filename}:{exc.lineno}: {exc.msg}", fix="Fix the Python file."
        ) from exc
    _write_po(layout.template_file, catalog)
    return layout.template_file, len(catalog)


def _messages(layout: Layout) -> Iterator[tuple[str, int, Any, list[str], str | None]]:
    from babel.messages.extract import extract_from_dir  # babel: kept off the CLI's startup

    def keep(dirname: str) -> bool:
        name = Path(dirname).name
        return not name.startswith(".") and name not in SKIP_DIRS

    jobs = [(d, [("**.jinja", JINJA), ("**.html", JINJA)]) for d in layout.templates]
    jobs += [(d, [("**.py", "python")]) for d in layout.sources]
    for directory, method_map in jobs:
        if not directory.is_dir():
            continue
        options = {
            pattern: dict(JINJA_OPTIONS) for pattern, method in method_map if method == JINJA
        }
        where = "" if directory == layout.root else _relative(directory, layout.root)
        for filename, line, message, comments, context in extract_from_dir(
            directory,
            method_map,
            options,
            keywords=KEYWORDS,
            comment_tags=("Translators:",),
            strip_comment_tags=True,
            directory_filter=keep,
        ):
            yield f"{where}/{filename}" if where else filename, line, message, comments, context


def init(layout: Layout, code: str) -> Path:
    """Start `translations/<code>/LC_MESSAGES/messages.po` from the template."""
    from babel import Locale, UnknownLocaleError  # babel: kept off the CLI's startup

    try:
        language = Language.parse(code)
        locale = Locale.parse(language.code)
    except (VibetunerError, UnknownLocaleError, ValueError) as exc:
        raise I18nError(
            f"{code!r} is not a language Babel knows.", fix="Use a code like es, fr or pt_BR."
        ) from exc
    target = layout.catalog_file(language.code)
    if target.exists():
        raise I18nError(
            f"{_relative(target, layout.root)} already exists.",
            fix="Run `vibetuner i18n update` to add new messages to it.",
        )
    if not layout.template_file.is_file():
        extract(layout)
    catalog = _read(layout.template_file, layout.root)
    catalog.locale = locale
    catalog.revision_date = datetime.now(UTC)
    catalog.fuzzy = False
    _write_po(target, catalog)
    return target


def update(layout: Layout) -> list[Path]:
    """Merge the template's new and changed messages into every catalog."""
    if not layout.template_file.is_file():
        raise I18nError(
            f"{_relative(layout.template_file, layout.root)} does not exist.",
            fix="Run `vibetuner i18n extract` first.",
        )
    template = _read(layout.template_file, layout.root)
    updated = []
    for code, path in layout.catalog_files():
        catalog = _read(path, layout.root, code)
        catalog.update(template, update_header_comment=False)
        _write_po(path, catalog)
        updated.append(path)
    return updated


def compile_catalogs(layout: Layout) -> list[Compiled]:
    """Write `messages.mo` next to each `messages.po`; fuzzy entries stay out."""
    from babel.messages.mofile import write_mo  # babel: kept off the CLI's startup

    results = []
    for code, path in layout.catalog_files():
        catalog = _read(path, layout.root, code)
        problems = tuple(
            f"{message.id!r}: {error}" for message, errors in catalog.check() for error in errors
        )
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        target = path.with_suffix(".mo")
        target.write_bytes(buffer.getvalue())
        messages = [m for m in catalog if m.id]
        translated = sum(1 for m in messages if _translated(m.string) and not m.fuzzy)
        results.append(Compiled(code, target, translated, len(messages), problems))
    return results


def _translated(string: Any) -> bool:
    return all(string) if isinstance(string, tuple | list) else bool(string)


def _read(path: Path, root: Path, code: str | None = None) -> Catalog:
    from babel.messages.pofile import PoFileError, read_po  # babel: kept off the CLI's startup

    try:
        with path.open("rb") as handle:
            return read_po(handle, locale=code, domain=DOMAIN, abort_invalid=True)
    except PoFileError as exc:
        raise I18nError(
            f"{_relative(path, root)}: {exc}", fix="Fix the catalog (or restore it from git)."
        ) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise I18nError(
            f"{_relative(path, root)} is not a readable catalog: {exc}",
            fix=f"Check the language folder name ({path.parent.parent.name}) and the file.",
        ) from exc


def _write_po(path: Path, catalog: Catalog) -> None:
    from babel.messages.pofile import write_po  # babel: kept off the CLI's startup

    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, ignore_obsolete=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def framework_layout() -> Layout:
    """The framework's own catalogs (maintainers: `make i18n-framework` refreshes them)."""
    package = FRAMEWORK_TRANSLATIONS.parent
    return Layout(package, [package / "templates"], [package], FRAMEWORK_TRANSLATIONS, "vibetuner")


def refresh_framework() -> list[Compiled]:
    """Extract, update and compile the framework's catalogs (`make i18n-framework`)."""
    layout = framework_layout()
    extract(layout)
    update(layout)
    return compile_catalogs(layout)
