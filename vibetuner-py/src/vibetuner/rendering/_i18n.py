"""Templates speak the request's language: `_()`, `ngettext`, `{% trans %}`, format filters,
`<html lang>`, links that keep the language prefix, hreflang alternates and the switcher."""

from __future__ import annotations

from typing import Any

import jinja2
import jinja2.runtime
from jinja2.nodes import EvalContext
from markupsafe import Markup

from vibetuner.config import get_settings
from vibetuner.i18n import _format, _translate
from vibetuner.i18n._catalogs import Catalogs, current_catalogs
from vibetuner.rendering._folding import Folder, fold_markup, fold_text


def install_i18n(env: jinja2.Environment) -> None:
    """Add the i18n extension, the gettext callables, format filters and language globals."""
    catalogs = current_catalogs()
    settings = get_settings()
    env.add_extension("jinja2.ext.i18n")
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    env.globals.update(
        _=_gettext, gettext=_gettext, ngettext=_ngettext, pgettext=_pgettext, npgettext=_npgettext
    )
    env.filters.update(
        format_date=_format.format_date,
        format_datetime=_format.format_datetime,
        format_time=_format.format_time,
        format_timedelta=_format.format_timedelta,
        format_number=_format.format_number,
        format_percent=_format.format_percent,
        format_currency=_format.format_currency,
    )
    env.globals.update(
        current_locale=_translate.get_locale,
        html_lang=_html_lang,
        lang_url=_lang_url if settings.language_url_prefix and catalogs.multilingual else _same,
        hreflang_links=_hreflang_links(catalogs),
        languages=_language_names(catalogs) if catalogs.multilingual else [],
    )


def language_folders(env: jinja2.Environment) -> dict[str, dict[str, Folder]]:
    """For each served language (the default first), the calls its templates can fold: the
    literal `_()`/`gettext()`, `html_lang()`, and `lang_url()` when URLs carry no language."""
    catalogs = current_catalogs()
    served = [catalogs.default, *(lang for lang in catalogs.languages if lang != catalogs.default)]
    result: dict[str, dict[str, Folder]] = {}
    for language in served:
        active = catalogs.active[language.code]
        translate = fold_markup(active.translations.gettext)
        folders: dict[str, Folder] = {"html_lang": fold_text(lambda tag=language.tag: tag)}
        if env.globals.get("_") is _gettext:
            folders["_"] = translate
        if env.globals.get("gettext") is _gettext:
            folders["gettext"] = translate
        if env.globals.get("lang_url") is _same:
            folders["lang_url"] = fold_text(_same)
        result[language.code] = folders
    return result


# Jinja's newstyle gettext semantics (autoescaped result, `%(name)s` filled from keyword
# arguments, and `num` for plurals) in one call each: its own wrappers add a second
# `Context.call` per string, which costs more than the translation.


def _fill(eval_ctx: EvalContext, text: str, variables: dict[str, Any]) -> str:
    """Translations are trusted like the template itself; the variables get escaped."""
    rv: str = Markup(text) if eval_ctx.autoescape else text  # noqa: S704
    if not variables and "%" not in rv:
        return rv
    filled: str = rv % variables
    return filled


@jinja2.pass_eval_context
def _gettext(eval_ctx: EvalContext, message: str, **variables: Any) -> str:
    return _fill(eval_ctx, _translate.gettext(message), variables)


@jinja2.pass_eval_context
def _ngettext(eval_ctx: EvalContext, singular: str, plural: str, num: int, **variables: Any) -> str:
    variables.setdefault("num", num)
    return _fill(eval_ctx, _translate.ngettext(singular, plural, num), variables)


@jinja2.pass_eval_context
def _pgettext(eval_ctx: EvalContext, context: str, message: str, **variables: Any) -> str:
    return _fill(eval_ctx, _translate.pgettext(context, message), variables)


@jinja2.pass_eval_context
def _npgettext(
    eval_ctx: EvalContext, context: str, singular: str, plural: str, num: int, **variables: Any
) -> str:
    variables.setdefault("num", num)
    return _fill(eval_ctx, _translate.npgettext(context, singular, plural, num), variables)


def _html_lang() -> str:
    return _translate._now().language.tag


def _same(path: str) -> str:
    """`lang_url` when URLs carry no language: nothing to add."""
    return path


@jinja2.pass_context
def _lang_url(context: jinja2.runtime.Context, path: str) -> str:
    """`path` with the request's language prefix kept (`/es/posts` while browsing in /es/)."""
    request = context.get("request")
    prefix = request.scope.get("locale_prefix", "") if request is not None else ""
    return f"{prefix}{path}" if prefix else path


def _hreflang_links(catalogs: Catalogs) -> Any:
    """`<link rel="alternate" hreflang>` for each language, when URLs carry the language."""
    settings = get_settings()
    if not (catalogs.multilingual and settings.language_url_prefix):
        return lambda: Markup("")
    base_url = settings.public_url if settings.base_url else None
    pattern = Markup('<link rel="alternate" hreflang="{}" href="{}">')

    @jinja2.pass_context
    def links(context: jinja2.runtime.Context) -> Markup:
        request = context.get("request")
        if request is None:
            return Markup("")
        origin = base_url or str(request.base_url).rstrip("/")
        path = request.url.path
        tags = [(lang.tag, catalogs.localized_path(path, lang.code)) for lang in catalogs.languages]
        tags.append(("x-default", catalogs.localized_path(path, catalogs.default.code)))
        return Markup("\n").join(pattern.format(tag, origin + url) for tag, url in tags)

    return links


def _language_names(catalogs: Catalogs) -> list[dict[str, str]]:
    """Each served language with its own name for itself (`español`), for the switcher."""
    names = []
    for lang in catalogs.languages:
        name = _format.babel_locale(lang.code).get_display_name(lang.code) or lang.code
        names.append({"code": lang.code, "tag": lang.tag, "name": name[:1].upper() + name[1:]})
    return names
