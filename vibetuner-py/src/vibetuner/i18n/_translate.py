"""`_()`, `ngettext` and lazy strings, answering in the language of the current request.

The locale middleware puts the request's language in a context variable; code running
outside a request (jobs, the CLI) gets the default language, or what `use_locale` chose.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from vibetuner.i18n._catalogs import Active, current_catalogs

_active: ContextVar[Active | None] = ContextVar("vibetuner_locale", default=None)


def _now() -> Active:
    active = _active.get()
    if active is not None:
        return active
    # Outside a request, or with one language (no middleware): the default language of
    # the settings in force (the catalogs are rebuilt when the settings change).
    return current_catalogs().default_active


def activate(active: Active) -> None:
    """Make `active` the language of the current context (the middleware calls this)."""
    _active.set(active)


def get_locale() -> str:
    """The current language's code, e.g. `es` or `pt_BR`."""
    return _now().language.code


@contextlib.contextmanager
def use_locale(code: str | None) -> Iterator[str]:
    """Speak `code` inside the block (emails, jobs); unknown codes get the default language."""
    catalogs = current_catalogs()
    served = catalogs.match(code) if code else None
    active = catalogs.active[served] if served else catalogs.default_active
    token = _active.set(active)
    try:
        yield active.code
    finally:
        _active.reset(token)


def gettext(message: str) -> str:
    return _now().translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _now().translations.ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return _now().translations.pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return _now().translations.npgettext(context, singular, plural, n)


_ = gettext


class LazyString:
    """A message translated each time it is shown, in the language of that moment.

    For strings defined at import time: validation messages, form labels, constants.
    """

    __slots__ = ("_args", "_func")

    def __init__(self, func: Callable[..., str], *args: Any) -> None:
        self._func = func
        self._args = args

    def __str__(self) -> str:
        return self._func(*self._args)

    def __repr__(self) -> str:
        return f"lazy({self._args[0]!r})"

    def __len__(self) -> int:
        return len(str(self))

    def __eq__(self, other: object) -> bool:
        return str(self) == (str(other) if isinstance(other, LazyString) else other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __add__(self, other: str) -> str:
        return str(self) + other

    def __radd__(self, other: str) -> str:
        return other + str(self)

    def __mod__(self, values: Any) -> str:
        formatted: str = str(self) % values
        return formatted

    def __contains__(self, item: str) -> bool:
        return item in str(self)

    def format(self, *args: Any, **kwargs: Any) -> str:
        return str(self).format(*args, **kwargs)


def lazy_gettext(message: str) -> LazyString:
    return LazyString(gettext, message)


def lazy_ngettext(singular: str, plural: str, n: int) -> LazyString:
    return LazyString(ngettext, singular, plural, n)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it (translate it later with `_()`)."""
    return message
