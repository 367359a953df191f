"""Calls whose answer cannot change in this process become constants when templates compile.

`{{ _("Sign in") }}`, `lang_url("/account")` (when URLs carry no language),
`static_url("css/bundle.css")` (in prod, where assets never change) and `html_lang()` give
the same text on every render in one language. Each was a `Context.call` per render, and
a page makes a dozen; folded, they cost nothing. Templates are compiled once per language
(see `LocalizedEnvironments`), so a folded translation is always the page's own language.

Only the literal form is folded: one string argument (or none for `html_lang`), with the
name being the global itself (not an attribute, not a call with keywords). Anything else
(`_("%(n)s items", n=n)`, `lang_url(path)`) runs as before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import jinja2
from jinja2.ext import Extension
from jinja2.lexer import (
    TOKEN_DOT,
    TOKEN_LPAREN,
    TOKEN_NAME,
    TOKEN_PIPE,
    TOKEN_RPAREN,
    TOKEN_STRING,
    Token,
    TokenStream,
)
from markupsafe import Markup

Folder = Callable[..., str | None]
"""Given the call's literal arguments, the constant it stands for; None to leave the call."""

FOLDERS_ATTRIBUTE = "vibetuner_folders"


def set_folders(env: jinja2.Environment, folders: dict[str, Folder]) -> None:
    """What `env`'s templates may fold; read when each template compiles."""
    setattr(env, FOLDERS_ATTRIBUTE, folders)


class ConstantCalls(Extension):
    """Rewrite `name("literal")` to `("constant")`, or `("constant"|safe)` for markup."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        folders: dict[str, Folder] = getattr(self.environment, FOLDERS_ATTRIBUTE, {})
        if not folders:
            yield from stream
            return
        source = iter(stream)
        ahead: deque[Token] = deque()

        def peek(index: int) -> Token | None:
            while len(ahead) <= index:
                token = next(source, None)
                if token is None:
                    return None
                ahead.append(token)
            return ahead[index]

        previous = ""
        while (token := ahead.popleft() if ahead else next(source, None)) is not None:
            if token.type == TOKEN_NAME and token.value in folders and previous != TOKEN_DOT:
                args, length = _literal_arguments(peek)
                value = folders[token.value](*args) if args is not None else None
                if value is not None:
                    for _ in range(length):
                        ahead.popleft()
                    yield from _constant(token.lineno, value)
                    previous = TOKEN_RPAREN
                    continue
            previous = token.type
            yield token


def _literal_arguments(peek: Callable[[int], Token | None]) -> tuple[tuple[str, ...] | None, int]:
    """`()` or `("literal")` right after the name: the arguments and how many tokens."""
    opened, first, closed = peek(0), peek(1), peek(2)
    if opened is None or opened.type != TOKEN_LPAREN or first is None:
        return None, 0
    if first.type == TOKEN_RPAREN:
        return (), 2
    if first.type == TOKEN_STRING and closed is not None and closed.type == TOKEN_RPAREN:
        return (str(first.value),), 3
    return None, 0


def _constant(lineno: int, value: str) -> Iterator[Token]:
    yield Token(lineno, TOKEN_LPAREN, "(")
    yield Token(lineno, TOKEN_STRING, str(value))
    if isinstance(value, Markup):
        yield Token(lineno, TOKEN_PIPE, "|")
        yield Token(lineno, TOKEN_NAME, "safe")
    yield Token(lineno, TOKEN_RPAREN, ")")


def fold_markup(translate: Callable[[str], str]) -> Folder:
    """`_("text")` with no variables: newstyle gettext's result, trusted like the template."""

    def fold(message: str) -> str:
        text = translate(message)
        return Markup(text % {} if "%" in text else text)  # noqa: S704

    return fold


def fold_text(compute: Callable[..., str]) -> Folder:
    def fold(*args: Any) -> str:
        return str(compute(*args))

    return fold
