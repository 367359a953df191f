"""The `vibetuner` command: run, scaffold and inspect apps."""

from __future__ import annotations

import sys

import typer

from vibetuner.cli import run, scaffold

app = typer.Typer(
    name="vibetuner",
    help="Create and run full-stack Python web apps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(run.app, name="run")
app.add_typer(scaffold.app, name="scaffold")

_state = {"debug": False}


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    _state["debug"] = debug


@app.command()
def version() -> None:
    """Print the installed vibetuner version."""
    from vibetuner import __version__

    typer.echo(__version__)


def main() -> None:
    """Entry point: errors print their cause and fix; tracebacks only with --debug."""
    from vibetuner.exceptions import VibetunerError

    try:
        app(standalone_mode=False)
    except VibetunerError as exc:
        if _state["debug"]:
            raise
        _print_error(exc.message, exc.fix)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        if _state["debug"]:
            raise
        _print_error(f"{type(exc).__name__}: {exc}", "Re-run with --debug to see the traceback.")
        sys.exit(1)


def _print_error(message: str, fix: str | None) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False)
    console.print(f"[bold red]Error:[/] {escape(message)}")
    if fix:
        console.print(f"[bold]Fix:[/] {escape(fix)}")
