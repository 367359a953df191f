"""The `vibetuner` command: run, scaffold and inspect apps."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from vibetuner import __version__
from vibetuner.cli import (
    db,
    debug,
    doctor,
    i18n,
    jobs,
    run,
    scaffold,
    secret,
    users,
    vendor,
    worker,
)
from vibetuner.exceptions import debug_env, run_reporting

app = typer.Typer(
    name="vibetuner",
    help="""Create and run full-stack Python web apps.

Examples:
  vibetuner scaffold new my-app
  vibetuner run dev
  vibetuner doctor
""",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(run.app, name="run")
app.add_typer(scaffold.app, name="scaffold")
app.add_typer(doctor.app, name="doctor")
app.add_typer(jobs.app, name="jobs")
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(secret.app, name="secret")
app.add_typer(i18n.app, name="i18n")
app.add_typer(debug.app, name="debug")
run.app.command("worker")(worker.worker)
app.command("worker-health")(worker.worker_health)
app.command("vendor")(vendor.vendor)

_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


@app.command()
def version() -> None:
    """Print the installed vibetuner version.

    Examples:
      vibetuner version
    """
    typer.echo(__version__)


def main() -> None:
    """Entry point: errors print their cause and fix; tracebacks only with --debug."""
    run_reporting(_dispatch, debug=_debug)


def _dispatch() -> None:
    if sys.argv[1:2] == ["run"] and os.path.basename(sys.argv[0]) == "vibetuner":
        # Every server start: Typer turns each function of each group into a command before
        # it dispatches (about 40 ms for all of them); `run` needs only its own. (Only as the
        # `vibetuner` command: usage lines name the program as it was run.)
        run.app(args=sys.argv[2:], prog_name="vibetuner run")
    else:
        app()


def _debug() -> bool:
    return _state["debug"] or debug_env()
