"""`vibetuner i18n`: keep the app's translation catalogs in `translations/` up to date."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from vibetuner.i18n._messages import I18nError, Layout, compile_catalogs
from vibetuner.i18n._messages import extract as extract_messages
from vibetuner.i18n._messages import init as init_catalog
from vibetuner.i18n._messages import update as update_catalogs

if TYPE_CHECKING:
    from vibetuner.i18n._messages import Layout

app = typer.Typer(
    help="""Translate the app: extract messages, start a language, update and compile catalogs.

Examples:
  vibetuner i18n extract && vibetuner i18n init es
  vibetuner i18n extract && vibetuner i18n update && vibetuner i18n compile
""",
    no_args_is_help=True,
)

Root = Annotated[
    Path,
    typer.Option(
        "--root",
        help="The project folder (with templates/, src/ and translations/).",
        exists=True,
        file_okay=False,
    ),
]
T = TypeVar("T")


def _run(action: Callable[..., T], root: Path, *args: Any) -> tuple[Layout, T]:
    """Run one catalog step on the project; its errors become one line and exit code 1
    (2 when the argument itself is wrong)."""
    layout = Layout.for_project(root.resolve())
    try:
        return layout, action(layout, *args)
    except I18nError as exc:
        typer.echo(f"Error: {exc.message}" + (f" Fix: {exc.fix}" if exc.fix else ""), err=True)
        raise typer.Exit(2 if "not a language" in exc.message else 1) from None


@app.command()
def extract(root: Root = Path()) -> None:
    """Collect `_()` strings from templates/**.jinja and src/**.py into translations/messages.pot.

    Examples:
      vibetuner i18n extract
      vibetuner i18n extract --root path/to/project
    """
    layout, (path, count) = _run(extract_messages, root)
    typer.echo(f"Extracted {count} messages to {path.relative_to(layout.root)}")


@app.command()
def init(
    locale: Annotated[str, typer.Argument(help="The language to add, like es, fr or pt_BR.")],
    root: Root = Path(),
) -> None:
    """Start translating into LOCALE: creates translations/LOCALE/LC_MESSAGES/messages.po.

    Examples:
      vibetuner i18n init es
      vibetuner i18n init pt_BR
    """
    layout, path = _run(init_catalog, root, locale)
    where = path.relative_to(layout.root)
    typer.echo(f"Created {where}: translate it, then run `vibetuner i18n compile`")


@app.command()
def update(root: Root = Path()) -> None:
    """Merge new and changed messages from messages.pot into every language's catalog.

    Examples:
      vibetuner i18n extract && vibetuner i18n update
    """
    layout, paths = _run(update_catalogs, root)
    if not paths:
        typer.echo("No catalogs to update yet: add a language with `vibetuner i18n init es`.")
    for path in paths:
        typer.echo(f"Updated {path.relative_to(layout.root)}")


@app.command(name="compile")
def compile_(root: Root = Path()) -> None:
    """Compile every messages.po into the messages.mo the app reads (part of the prod build).

    Examples:
      vibetuner i18n compile
    """
    layout, results = _run(compile_catalogs, root)
    if not results:
        typer.echo("No catalogs to compile (the app speaks its default language only).")
    for result in results:
        where = result.path.relative_to(layout.root)
        typer.echo(f"Compiled {where}: {result.translated} of {result.total} messages translated")
        for problem in result.problems:
            typer.echo(f"  warning: {problem}", err=True)
