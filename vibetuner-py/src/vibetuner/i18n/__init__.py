"""Translations and locale formatting, in the language of the current request.

    from vibetuner.i18n import _, ngettext, lazy_gettext, format_date

Catalogs live in `translations/<lang>/LC_MESSAGES/messages.{po,mo}` (the app's win over the
framework's); `vibetuner i18n extract | init | update | compile` maintains them.
"""

from __future__ import annotations

from vibetuner.config import get_settings
from vibetuner.i18n._catalogs import Catalogs, Language, current_catalogs, reset_catalogs
from vibetuner.i18n._format import (
    format_currency,
    format_date,
    format_datetime,
    format_number,
    format_percent,
    format_time,
    format_timedelta,
)
from vibetuner.i18n._translate import (
    N_,
    LazyString,
    _,
    get_locale,
    gettext,
    lazy_gettext,
    lazy_ngettext,
    ngettext,
    npgettext,
    pgettext,
    use_locale,
)

__all__ = [
    "N_",
    "Catalogs",
    "Language",
    "LazyString",
    "_",
    "current_catalogs",
    "format_currency",
    "format_date",
    "format_datetime",
    "format_number",
    "format_percent",
    "format_time",
    "format_timedelta",
    "get_locale",
    "gettext",
    "install_locale_middleware",
    "lazy_gettext",
    "lazy_ngettext",
    "ngettext",
    "npgettext",
    "pgettext",
    "reset_catalogs",
    "use_locale",
]


def install_locale_middleware(app: object) -> None:
    """Add the locale middleware to a Starlette/FastAPI app, when more than one language is served.

    `setup_middleware` calls this at the right place (inside the session middleware).
    """
    from vibetuner.i18n._negotiate import LocaleMiddleware  # starlette: only web apps load it

    catalogs = current_catalogs()
    if not catalogs.multilingual:
        return  # one language: nothing to negotiate, `_()` answers in it without a middleware
    settings = get_settings()
    app.add_middleware(  # type: ignore[attr-defined]
        LocaleMiddleware,
        catalogs=catalogs,
        url_prefix=settings.language_url_prefix,
        cookie_name=settings.language_cookie,
    )
