"""`vibetuner debug unlock`: a signed, single-use link that opens the debug console."""

from __future__ import annotations

from typing import Annotated

import typer

from vibetuner.config import get_settings
from vibetuner.exceptions import ConfigError
from vibetuner.services.unlock import DEFAULT_MINUTES, MAX_MINUTES, unlock_link

app = typer.Typer(
    help="""The debug console at /_debug: in prod, admins open it with a signed link.

Examples:
  vibetuner debug unlock
""",
    no_args_is_help=True,
)


@app.command()
def unlock(
    minutes: Annotated[
        int,
        typer.Option("--minutes", min=1, max=MAX_MINUTES, help="How long the link can be opened."),
    ] = DEFAULT_MINUTES,
) -> None:
    """Print a link that opens the debug console for the admin who opens it (once).

    In prod the console needs an admin session and this link: it is signed with
    SECRET_KEY, expires after --minutes, and works once. Open it while signed in as an
    admin; that browser session then keeps the console open for 30 minutes.

    Examples:
      vibetuner debug unlock
      vibetuner debug unlock --minutes 5
    """
    settings = get_settings()
    secret = settings.secret_key.get_secret_value()
    if not secret:
        raise ConfigError(
            "SECRET_KEY is not set: the unlock link is signed with it.",
            fix="Run this where the app's settings are (same SECRET_KEY as the server).",
        )
    problem = settings.secret_key_problem() if settings.is_prod else None
    if problem:  # the server refuses this key, so it would call the link forged
        raise ConfigError(problem, fix="Use the SECRET_KEY the server runs with.")
    link, expires_at = unlock_link(settings.public_url, secret, minutes)
    typer.echo(f"{link}  (single use; expires {expires_at:%Y-%m-%d %H:%M:%S} UTC)")
