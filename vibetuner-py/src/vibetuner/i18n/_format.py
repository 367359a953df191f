"""Dates and numbers written the way the current language writes them (Babel's CLDR data).

Babel loads on the first call, not with the app: pages that format nothing never pay for it.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING

from vibetuner.i18n._translate import _, get_locale

if TYPE_CHECKING:
    from babel import Locale

Number = int | float | Decimal


@functools.cache
def babel_locale(code: str) -> Locale:
    from babel import Locale  # babel: off startup, loads on first use

    return Locale.parse(code)


def _locale(code: str | None) -> Locale:
    return babel_locale(code or get_locale())


def format_date(
    value: date | datetime, format: str = "medium", *, locale: str | None = None
) -> str:
    """`28 nov 2026` in Spanish; `format` is short, medium, long, full or a CLDR pattern."""
    from babel import dates  # babel: off startup, loads on first use

    return dates.format_date(value, format, locale=_locale(locale))


def format_datetime(
    value: datetime,
    format: str = "medium",
    *,
    tzinfo: tzinfo | None = None,
    locale: str | None = None,
) -> str:
    """Date and time; aware values are shown in `tzinfo` (UTC when not given)."""
    from babel import dates  # babel: off startup, loads on first use

    return dates.format_datetime(value, format, tzinfo=tzinfo, locale=_locale(locale))


def format_time(
    value: time | datetime,
    format: str = "short",
    *,
    tzinfo: tzinfo | None = None,
    locale: str | None = None,
) -> str:
    from babel import dates  # babel: off startup, loads on first use

    return dates.format_time(value, format, tzinfo=tzinfo, locale=_locale(locale))


def format_timedelta(
    value: timedelta, *, add_direction: bool = False, locale: str | None = None
) -> str:
    """`3 days`, or `in 3 days` / `3 days ago` with `add_direction`."""
    from babel import dates  # babel: off startup, loads on first use

    return dates.format_timedelta(value, add_direction=add_direction, locale=_locale(locale))


def format_number(value: Number, *, locale: str | None = None) -> str:
    """`1.234.567,5` in Spanish, `1,234,567.5` in English."""
    from babel import numbers  # babel: off startup, loads on first use

    return numbers.format_decimal(value, locale=_locale(locale))


def format_percent(value: Number, *, locale: str | None = None) -> str:
    from babel import numbers  # babel: off startup, loads on first use

    return numbers.format_percent(value, locale=_locale(locale))


def format_currency(value: Number, currency: str, *, locale: str | None = None) -> str:
    """`12,50 €` in Spanish for (12.5, "EUR")."""
    from babel import numbers  # babel: off startup, loads on first use

    return numbers.format_currency(value, currency, locale=_locale(locale))


def format_bytes(count: int) -> str:
    """`256 KB`, `1.5 MB`: a size as people read it (1 KB is 1,024 bytes)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return _("%(count)d bytes") % {"count": count}
